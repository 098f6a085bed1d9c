#!/usr/bin/env bash
# A virtual machine's disk from the local node image, for tests that need a real kernel of
# the node's own: cgroups v2 (this machine's host has a hybrid v1 layout) and, later, the
# nodes Ironic deploys.
#   images/build-vm-disk.sh OUT.img SSH_PUBKEY [WHEELS_TAR]
# = the rootfs of localhost/corral-node (podman export)
#   + the modules of the image's kernel (from the .deb debootstrap used to build it; the
#     image keeps none), so the guest can load virtio-net and friends
#   + DHCP on the first NIC (systemd-networkd), root's authorized key
#   + optionally the runtime's wheels installed into /opt/corral/venv (corral_runtime's layout)
#   -> an ext4 filesystem image, booted with the image's kernel and initrd from
#      $CORRAL_NODE_ARTIFACTS (corral-node.vmlinuz, corral-node.initrd) and root=/dev/vda.
set -euo pipefail
export LC_ALL=C.UTF-8
out=${1:?usage: build-vm-disk.sh OUT.img SSH_PUBKEY [WHEELS_TAR]}
pubkey=${2:?usage: build-vm-disk.sh OUT.img SSH_PUBKEY [WHEELS_TAR]}
wheels=${3:-}
image=${CORRAL_NODE_IMAGE:-localhost/corral-node}:latest
cache=${CORRAL_NODE_CACHE:-/var/cache/corral/debootstrap}
size=${CORRAL_VM_DISK_SIZE:-3G}

work=$(mktemp -d /var/tmp/corral-vm-disk.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root" "$work/kernel"
cid=$(podman create "$image")
podman export "$cid" | tar -C "$root" -x
podman rm "$cid" > /dev/null

# The image's kernel: the one linux-image-<version> package debootstrap fetched.
kernel_debs=("$cache"/linux-image-[0-9]*.deb)
[ -f "${kernel_debs[0]}" ] || { echo "build-vm-disk: no linux-image .deb in $cache (run images/build-local.sh)" >&2; exit 1; }
[ ${#kernel_debs[@]} -eq 1 ] || { echo "build-vm-disk: more than one kernel in $cache: ${kernel_debs[*]}" >&2; exit 1; }
dpkg -x "${kernel_debs[0]}" "$work/kernel"   # apart: its lib/ would replace the image's lib -> usr/lib
mkdir -p "$root/usr/lib/modules"
cp -a "$work/kernel/lib/modules/." "$root/usr/lib/modules/"
version=$(ls "$work/kernel/lib/modules")
chroot "$root" /usr/sbin/depmod "$version"

mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/10-vm.network"
ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/"
install -d -m 700 "$root/root/.ssh"
install -m 600 "$pubkey" "$root/root/.ssh/authorized_keys"

if [ -n "$wheels" ]; then
    mkdir -p "$root/tmp/wheels"
    tar -C "$root/tmp/wheels" -xf "$wheels"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c \
        'python3 -m venv /opt/corral/venv && /opt/corral/venv/bin/pip install --quiet --no-index --find-links /tmp/wheels /tmp/wheels/*.whl'
    rm -rf "$root/tmp/wheels"
fi
mkfs.ext4 -q -F -L corral-vm -d "$root" "$out" "$size"
echo "build-vm-disk: $out (kernel $version)"
