#!/usr/bin/env bash
# Idempotent set-up of the Corral toolkit on a fresh Debian 12 machine:
#  - Debian packages the toolkit drives (podman + runc for test hosts, debootstrap for
#    the node image, genisoimage for config drives, zookeeper, ipmitool, QEMU for node
#    virtual machines);
#  - podman's network backend, chosen deliberately: netavark with aardvark-dns. Debian's
#    podman 4.3 falls back to CNI without them, and CNI's internal networks give the
#    bridge no address (so the host has no route to its test hosts) and resolve no
#    container names; netavark's internal networks carry the gateway on a bridge this
#    project names, forward nothing off it, and serve names through aardvark-dns;
#  - Podman's containers.conf fixes for this kind of machine;
#  - the toolkit's Python packages (requirements/toolkit.txt) into ${VENV:-.venv}.
# Ironic is installed later, into its own venv, by the ironic_standalone role.
# The lead's scripts/setup.sh calls this; it is safe to run again (a no-op when done).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
VENV=${VENV:-.venv}
start=$(date +%s)

apt_packages=(
    podman runc netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs
    qemu-system-x86 e2fsprogs
    debootstrap genisoimage
    zookeeper ipmitool
    openssh-client python3-venv git
)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-toolkit: apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# Podman settings (netavark, runc, cgroupfs, ulimits). Install ours unless an admin wrote one.
conf=/etc/containers/containers.conf
if [ ! -e "$conf" ] || grep -q '^# Corral:' "$conf"; then
    if ! cmp -s images/containers.conf "$conf"; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO install -D -m 0644 images/containers.conf "$conf"
        echo "setup-toolkit: installed $conf"
    fi
else
    echo "setup-toolkit: $conf exists and is not Corral's; export CONTAINERS_CONF=$PWD/images/containers.conf" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# Only call pip when the requirements changed since the last successful install.
stamp="$VENV/.corral-toolkit-requirements"
if ! cmp -s requirements/toolkit.txt "$stamp"; then
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r requirements/toolkit.txt
    cp requirements/toolkit.txt "$stamp"
fi
echo "setup-toolkit: ready in $(( $(date +%s) - start ))s (venv $VENV)"
