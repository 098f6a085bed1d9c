#!/usr/bin/env bash
# The local, embedded default (DESIGN.md): on this machine, a standalone Ironic with
# emulated Redfish BMCs enrolls and deploys three nodes, each deployed node becomes a local
# test host (a systemd container on an internal podman network); then the playbooks that
# serve real racks deploy ZooKeeper, the Corral masters and agents and the Spark
# dispatcher over SSH; a sample task runs; the spark-perf K-means stage runs; and the
# script prints where to look. A second run reuses what is there (the playbooks are
# idempotent and an existing benchmark report is kept). `make down` tears it all down.
#
#   scripts/up.sh                 (make up runs scripts/setup.sh first)
#   CORRAL_UP_VERBOSE=1           stream the playbooks' output instead of logging it
#   CORRAL_BENCHMARK_VARS='{...}' override the stage's spark_perf_* variables (JSON)
#   CORRAL_SKIP_BENCHMARK=1       stop after the sample task
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8
VENV=${VENV:-.venv}
BIN="$(cd "$VENV" && pwd)/bin"
export PATH="$BIN:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
# One Ironic venv for every local bring-up and the tests (the ~1 min install happens once).
export CORRAL_IRONIC_VENV=${CORRAL_IRONIC_VENV:-/var/cache/corral/ironic-venv}
STATE=${CORRAL_STATE_DIR:-$PWD/.corral}
LOGS=artifacts/up
mkdir -p "$LOGS" "$STATE"
# A few minutes on a 2-core machine: spark-perf's K-means at scale 0.001 (1,000 examples of
# 10,000 features, in 4 partitions), both modes, 10 iterations, 5 trials (1 ignored).
BENCHMARK_VARS=${CORRAL_BENCHMARK_VARS:-'{"spark_perf_scale_factors": [0.001],
  "spark_perf_num_partitions": 4000, "spark_perf_num_iterations": 10, "spark_perf_num_trials": 5,
  "spark_perf_ignored_trials": 1, "spark_perf_inter_trial_wait": 1, "spark_perf_executor_memory": "512m",
  "spark_perf_driver_memory": "512m", "spark_perf_cores_max": 2, "spark_perf_run_timeout": 900}'}

total_start=$(date +%s)
declare -a timings=()

stage() {  # name, log file, command...
    local name=$1 log=$2; shift 2
    local t0
    t0=$(date +%s)
    printf '== %s ... ' "$name"
    if [ -n "${CORRAL_UP_VERBOSE:-}" ]; then
        echo
        "$@" 2>&1 | tee "$LOGS/$log"
        local rc=${PIPESTATUS[0]}
    else
        local rc=0
        "$@" > "$LOGS/$log" 2>&1 || rc=$?
    fi
    local took=$(( $(date +%s) - t0 ))
    if [ "$rc" -ne 0 ]; then
        echo "FAILED after ${took}s (exit $rc); the end of $LOGS/$log:"
        tail -n 40 "$LOGS/$log"
        exit "$rc"
    fi
    local recap
    recap=$(grep -E '^[^ ]+ +: ok=' "$LOGS/$log" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) {split($i, c, "="); s += c[2]}} END {if (NR) printf "%d hosts, %d changes", NR, s}' || true)
    echo "done in ${took}s${recap:+ ($recap)}"
    timings+=("$(printf '%5ss  %s' "$took" "$name")")
}

inventory_value() {  # a Jinja expression evaluated in the local inventory (and more ansible options)
    local expression=$1; shift
    ansible localhost -o "$@" -m ansible.builtin.debug -a "msg={{ $expression }}" 2>/dev/null |
        sed -n 's/.*"msg": "\(.*\)"}.*/\1/p'
}

echo "Corral local bring-up (logs in $LOGS/)"
stage "provision.yml: node image, standalone Ironic, 3 nodes deployed, test hosts" provision.log \
    ansible-playbook playbooks/provision.yml
stage "site.yml: ZooKeeper, 3 masters, 3 agents, Spark dispatcher" site.log \
    ansible-playbook playbooks/site.yml

# The cluster's ZooKeeper URL as the roles have it: the corral_zk role's one definition.
ZK=$(inventory_value corral_zk_url -e @roles/corral_zk/defaults/main.yml)
DISPATCHER=$(inventory_value "hostvars[groups['spark_dispatcher'][0]].ansible_host")
[ -n "$ZK" ] || { echo "cannot compute the ZooKeeper URL from inventory/local" >&2; exit 1; }
printf 'export CORRAL_MASTER=%q\n' "$ZK" > "$STATE/cluster.env"

stage "sample task: 3 commands launched with corral run" sample.log \
    corral run --master "$ZK" --name sample --count 3 --timeout 300 \
    --command 'echo "hello from $MESOS_TASK_ID on $(hostname)"'
grep -E "Launching|TASK_FINISHED" "$LOGS/sample.log" | sed 's/^/   /'

if [ -z "${CORRAL_SKIP_BENCHMARK:-}" ]; then
    if [ -f artifacts/spark-perf/kmeans.json ]; then
        echo "== benchmark.yml: artifacts/spark-perf/kmeans.json exists; kept (rerun: ansible-playbook playbooks/benchmark.yml -e spark_perf_force=true)"
    fi
    stage "benchmark.yml: spark-perf K-means, coarse and fine, through the dispatcher" benchmark.log \
        ansible-playbook playbooks/benchmark.yml -e "$BENCHMARK_VARS"
fi

LEADER=$(corral state --master "$ZK" --json |
    python3 -c 'import json, sys; a = json.load(sys.stdin)["leader_info"]["address"]; print("%s:%s" % (a["hostname"], a["port"]))')
echo
echo "== corral state --master $ZK"
corral state --master "$ZK" | sed 's/^/   /'
echo
echo "Timings:"
printf '   %s\n' "${timings[@]}"
printf '   %5ss  total\n' "$(( $(date +%s) - total_start ))"
cat <<MSG

Corral is running on 3 local test hosts (systemd containers on an internal podman
network, reachable from this machine only; from elsewhere: ssh -L 5050:$LEADER this-host).
  dashboard:   http://$LEADER/   (the leading master's web UI; /state, /metrics)
  CLI:         . $STATE/cluster.env   (sets CORRAL_MASTER=$ZK)
               corral state | corral agents | corral tasks --all
               corral run --command 'echo hi'
  Spark:       spark://$DISPATCHER:7077  (dispatcher; queue at http://$DISPATCHER:7077/)
MSG
if [ -f artifacts/spark-perf/kmeans.md ]; then
    cat <<MSG
  benchmark:   artifacts/spark-perf/kmeans.md   (table; also kmeans.json, kmeans.csv, kmeans.png)
MSG
    sed 's/^/               /' artifacts/spark-perf/kmeans.md
fi
cat <<MSG
  nodes:       ssh -i $STATE/ssh/id_ed25519 root@<node IP>   (ansible all -m ping)
  Ironic:      OS_CLIENT_CONFIG_FILE=$STATE/ironic/etc/clouds.yaml OS_CLOUD=corral-standalone baremetal node list
  logs:        $LOGS/*.log
  stop:        make down
MSG
