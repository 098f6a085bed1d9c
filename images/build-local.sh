#!/usr/bin/env bash
# Build the local test-host image from the same element the rack image uses:
#   debootstrap (packages from elements/corral-node/package-installs.yaml)
#   + the element's static/ files + its install.d/ scripts run in a chroot
#   -> podman import -> localhost/corral-node:<recipe hash> and :latest
#   and the image's kernel + initrd in $CORRAL_NODE_ARTIFACTS (for Ironic)
# Cached by content: if an image with this recipe hash exists, nothing is done.
# Prints "corral-node image: cached <ref>" or "corral-node image: built <ref> in Ns".
set -euo pipefail
export LC_ALL=C.UTF-8
here=$(cd "$(dirname "$0")" && pwd)
element="$here/elements/corral-node"
image=${CORRAL_NODE_IMAGE:-localhost/corral-node}
release=${CORRAL_NODE_RELEASE:-bookworm}
mirror=${CORRAL_NODE_MIRROR:-http://deb.debian.org/debian}
cache=${CORRAL_NODE_CACHE:-/var/cache/corral/debootstrap}
# Kernel and initrd of the image, served by the image HTTP server to Ironic.
artifacts=${CORRAL_NODE_ARTIFACTS:-/var/cache/corral/images}

# The recipe hash covers every file of the element, this script and the release.
recipe_hash=$(
    cd "$here" && {
        find elements/corral-node build-local.sh -type f -print0 | sort -z |
            xargs -0 sha256sum
        echo "$release $mirror"
    } | sha256sum | cut -c1-16
)
ref="$image:$recipe_hash"
if podman image exists "$ref" && [ -f "$artifacts/corral-node-$recipe_hash.SHA256SUMS" ]; then
    podman tag "$ref" "$image:latest"
    ln -sfn "corral-node-$recipe_hash.vmlinuz" "$artifacts/corral-node.vmlinuz"
    ln -sfn "corral-node-$recipe_hash.initrd" "$artifacts/corral-node.initrd"
    ln -sfn "corral-node-$recipe_hash.SHA256SUMS" "$artifacts/corral-node.SHA256SUMS"
    echo "corral-node image: cached $ref"
    exit 0
fi

start=$(date +%s)
packages=$(python3 - "$element/package-installs.yaml" <<'PY'
import re, sys
names = []
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9.+-]*):", line)
    if m:
        names.append(m.group(1))
print(",".join(names))
PY
)
work=$(mktemp -d /var/tmp/corral-node.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$cache"
debootstrap --variant=minbase --cache-dir="$cache" --include="$packages" \
    "$release" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
}
cp -a "$element/static/." "$root/"
mkdir -p "$root/tmp/in_target.d/install.d"
cp -a "$element/install.d/." "$root/tmp/in_target.d/install.d/"
for script in "$root"/tmp/in_target.d/install.d/*; do
    [ -x "$script" ] || continue
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        "/tmp/in_target.d/install.d/$(basename "$script")"
done
rm -rf "$root/tmp/in_target.d"
mkdir -p "$artifacts"
cp "$(ls "$root"/boot/vmlinuz-* | tail -n1)" "$artifacts/corral-node-$recipe_hash.vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | tail -n1)" "$artifacts/corral-node-$recipe_hash.initrd"
(cd "$artifacts" && sha256sum "corral-node-$recipe_hash.vmlinuz" "corral-node-$recipe_hash.initrd" \
    > "corral-node-$recipe_hash.SHA256SUMS")
ln -sfn "corral-node-$recipe_hash.vmlinuz" "$artifacts/corral-node.vmlinuz"
ln -sfn "corral-node-$recipe_hash.initrd" "$artifacts/corral-node.initrd"
ln -sfn "corral-node-$recipe_hash.SHA256SUMS" "$artifacts/corral-node.SHA256SUMS"
# The kernel stays in the rack image only; test hosts do not boot it.
rm -rf "$root"/boot/* "$root"/lib/modules/* "$root"/usr/lib/modules/*
tar -C "$root" -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change "LABEL corral.recipe=$recipe_hash" \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    - "$ref" > /dev/null
podman tag "$ref" "$image:latest"
# Drop images of older recipes.
podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$image" |
    grep -v -e ":$recipe_hash\$" -e ':latest$' | xargs -r podman rmi > /dev/null 2>&1 || true
echo "corral-node image: built $ref in $(( $(date +%s) - start ))s"
