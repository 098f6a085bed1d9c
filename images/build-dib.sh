#!/usr/bin/env bash
# Build the rack image that Ironic deploys to real machines, with diskimage-builder:
#   debian-minimal (bookworm) + vm (partitioned disk, bootloader)
#   + simple-init (glean: network from the config drive's network_data.json)
#   + corral-node (packages, config-drive hook, sshd policy; see elements/corral-node)
# Output: $OUT.qcow2 and $OUT.SHA256SUMS, to be served over HTTP and referenced in the
# nodes' instance_info (image_source, image_checksum).
# Needs root, loop devices, qemu-utils and kpartx: run it on a build host, not in CI.
set -euo pipefail
export LC_ALL=C.UTF-8
here=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$here/out/corral-node}
mkdir -p "$(dirname "$OUT")"
export ELEMENTS_PATH="$here/elements${ELEMENTS_PATH:+:$ELEMENTS_PATH}"
export DIB_RELEASE=${DIB_RELEASE:-bookworm}
export DIB_DEBIAN_COMPONENTS=${DIB_DEBIAN_COMPONENTS:-main}
disk-image-create -a amd64 -t qcow2 -o "$OUT" \
    debian-minimal vm simple-init corral-node
(cd "$(dirname "$OUT")" && sha256sum "$(basename "$OUT").qcow2" > "$(basename "$OUT").SHA256SUMS")
echo "rack image: $OUT.qcow2"
