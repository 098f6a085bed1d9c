#!/usr/bin/env bash
# The local embedded default: a master and agents on this machine, a sample
# workload, and where to look.  Stop it with `make down`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
CORRAL="$VENV/bin/corral"
WORK=.corral/local
PORT=${CORRAL_PORT:-5050}
mkdir -p "$WORK"

if [ -f "$WORK/corral.pid" ] && kill -0 "$(cat "$WORK/corral.pid")" 2>/dev/null; then
    echo "A local cluster is already running (pid $(cat "$WORK/corral.pid")); 'make down' stops it."
else
    nohup "$CORRAL" local --agents 2 --port "$PORT" --work_dir "$WORK" --pid_file "$WORK/corral.pid" \
        > "$WORK/local.out" 2>&1 &
    for _ in $(seq 1 120); do
        grep -q "Corral is up" "$WORK/local.out" 2>/dev/null && break
        if ! kill -0 $! 2>/dev/null; then cat "$WORK/local.out"; exit 1; fi
        sleep 0.5
    done
    grep -q "Corral is up" "$WORK/local.out" || { cat "$WORK/local.out"; exit 1; }
fi
MASTER="127.0.0.1:$PORT"

echo "== Sample workload: 4 command tasks through the scheduler API"
"$CORRAL" run --master "$MASTER" --name sample --count 4 --command 'echo "hello from $MESOS_TASK_ID on $(hostname)"'
echo "== corral state"
"$CORRAL" state --master "$MASTER"
"$CORRAL" tasks --master "$MASTER" --all
cat <<MSG

Corral is running on this machine.
  master:      http://$MASTER   (/state, /metrics/snapshot, /api/v1)
  CLI:         $CORRAL state|agents|frameworks|tasks|logs --master $MASTER
  run a task:  $CORRAL run --master $MASTER --command 'echo hi'
  logs:        $WORK/logs/
  stop:        make down
MSG
