#!/usr/bin/env bash
# Remove what earlier runs of the project left on this machine, found by the project's own
# names, so that nothing left behind can hide a missing step:
#  - podman containers and networks whose names start with "corral" (make up's test hosts,
#    the end-to-end test's and the Molecule scenarios' runs), and CNI configs of that name
#    from before the netavark backend;
#  - the processes recorded in the state dir's pid files (the standalone Ironic, the image
#    server, the Redfish emulator, `corral local`) and the node VMs' QEMU processes recorded
#    in /var/tmp/corral-vms, then the state dir itself (.corral, or $CORRAL_STATE_DIR);
#  - the Molecule scenarios', the image build's and the VM disk build's trees under /var/tmp;
#  - the empty cgroups that SIGKILLed agents left under .../corral in each hierarchy (rmdir
#    refuses a cgroup with processes: a running agent's tasks keep theirs).
# Caches keyed by their inputs stay: /var/cache/corral (the Ironic venv by its requirements,
# wheelhouses by their fingerprint, the debootstrap cache) and the localhost/corral-node
# images (tagged by recipe hash). .ci/run calls this first; so does `make clean`.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${CORRAL_STATE_DIR:-$PWD/.corral}
said() { echo "clean: $*"; }

for pidfile in "$STATE"/ironic/var/run/*.pid "$STATE"/local/corral.pid /var/tmp/corral-vms/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null)
    # Only a process that is still one of ours: its command line names the state dir or corral.
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -e "$STATE" -e corral; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null
        said "stopped process $pid ($pidfile)"
    fi
done

if command -v podman > /dev/null; then
    for name in $(podman ps -a --format '{{.Names}}' | grep '^corral'); do
        podman rm -f -t 2 "$name" > /dev/null 2>&1 && said "removed container $name"
    done
    for name in $(podman network ls --format '{{.Name}}' | grep '^corral'); do
        podman network rm -f "$name" > /dev/null 2>&1 && said "removed network $name"
    done
fi
for conf in /etc/cni/net.d/corral*.conflist; do
    [ -f "$conf" ] && rm -f "$conf" && said "removed $conf"
done

removed=0
for root in /sys/fs/cgroup/memory/corral /sys/fs/cgroup/cpu/corral /sys/fs/cgroup/devices/corral /sys/fs/cgroup/corral; do
    [ -d "$root" ] || continue
    while read -r dir; do rmdir "$dir" 2>/dev/null && removed=$((removed + 1)); done < <(find "$root" -mindepth 1 -depth -type d)
done
[ $removed -gt 0 ] && said "removed $removed empty cgroups under corral/"

for dir in "$STATE" /var/tmp/corral-molecule* /var/tmp/corral-node.* /var/tmp/corral-vm-disk.* /var/tmp/corral-vms; do
    [ -e "$dir" ] && rm -rf "$dir" && said "removed $dir"
done
said "done"
