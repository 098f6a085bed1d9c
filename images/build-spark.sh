#!/usr/bin/env bash
# Build the Spark executor image from the node image (build-local.sh): the node image's
# Python 3.11 and JRE, plus the pyspark and py4j that scripts/setup-spark.sh installed in
# ${VENV:-.venv} (Spark's jars and bin/ are in pyspark) and Corral's Spark launcher, which a
# worker task runs in the image (`python3 -m corral.spark.launcher worker ...`).
#   -> localhost/corral-spark:<hash> and :latest, for spark.mesos.executor.docker.image
# Cached by content: the hash covers the node image's recipe, the pyspark version, the
# launcher's files and this script. No registry is reached: FROM is local storage.
# Prints "corral-spark image: cached <ref>" or "corral-spark image: built <ref> in Ns".
set -euo pipefail
export LC_ALL=C.UTF-8
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
image=${CORRAL_SPARK_IMAGE:-localhost/corral-spark}
node=${CORRAL_NODE_IMAGE:-localhost/corral-node}
venv=${VENV:-$repo/.venv}

"$here/build-local.sh" > /dev/null
node_recipe=$(podman image inspect "$node:latest" --format '{{index .Config.Labels "corral.recipe"}}')
site=$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(os.path.dirname(pyspark.__file__)))') || {
    echo "build-spark: pyspark is not installed in $venv (run scripts/setup-spark.sh)" >&2
    exit 1
}
pyspark_version=$("$venv/bin/python" -c 'import pyspark; print(pyspark.__version__)')
# The launcher needs only the standard library: these three files are all of Corral it uses.
launcher_files=(corral/__init__.py corral/spark/__init__.py corral/spark/launcher.py)
hash=$(
    {
        echo "$node_recipe pyspark $pyspark_version"
        (cd "$repo/runtime/src" && sha256sum "${launcher_files[@]}")
        sha256sum "$here/build-spark.sh" | cut -d' ' -f1
    } | sha256sum | cut -c1-16
)
ref="$image:$hash"
if podman image exists "$ref"; then
    podman tag "$ref" "$image:latest"
    echo "corral-spark image: cached $ref"
    exit 0
fi

start=$(date +%s)
dist=/usr/local/lib/python3.11/dist-packages
cid=$(podman create --pull=never "$node:$node_recipe")
trap 'podman rm -f "$cid" > /dev/null 2>&1 || true' EXIT
podman cp "$site/pyspark" "$cid:$dist/pyspark"
podman cp "$site/py4j" "$cid:$dist/py4j"
stage=$(mktemp -d /var/tmp/corral-spark.XXXXXX)
trap 'podman rm -f "$cid" > /dev/null 2>&1 || true; rm -rf "$stage"' EXIT
for file in "${launcher_files[@]}"; do
    install -D -m 0644 "$repo/runtime/src/$file" "$stage/corral/${file#corral/}"
done
echo "$hash" > "$stage/corral-spark-image"
podman cp "$stage/corral" "$cid:$dist/corral"
podman cp "$stage/corral-spark-image" "$cid:/etc/corral-spark-image"
# A task's command replaces CMD; `podman stop` (a kill) sends SIGTERM, which the launcher forwards to Spark.
podman commit --quiet \
    --change 'CMD ["/bin/sh"]' \
    --change 'STOPSIGNAL SIGTERM' \
    --change "LABEL corral.recipe=$hash" \
    --change "ENV SPARK_HOME=$dist/pyspark" \
    "$cid" "$ref" > /dev/null
podman tag "$ref" "$image:latest"
# Drop images of older recipes.
podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$image" |
    grep -v -e ":$hash\$" -e ':latest$' | xargs -r podman rmi > /dev/null 2>&1 || true
echo "corral-spark image: built $ref in $(( $(date +%s) - start ))s"
