#!/usr/bin/env bash
# Spark for Corral's dispatcher, its tests and the spark-perf stage: pyspark 4
# (which carries Spark's jars, spark-class and the standalone daemons) with the
# ml extras (numpy), plus matplotlib for the report's plot, into ${VENV:-.venv}.
# Java 17 must already be on PATH (Debian: openjdk-17-jre-headless).
#
# Idempotent: pip is not called when everything already imports.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8
VENV=${VENV:-.venv}
PYSPARK_SPEC=${PYSPARK_SPEC:-"pyspark[ml]>=4.0,<5"}
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

if ! command -v java > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless > /dev/null
    else
        echo "setup-spark: Java 17 is required (apt-get install openjdk-17-jre-headless)" >&2
        exit 1
    fi
fi

if "$PY" - <<'EOF' 2>/dev/null
import sys
import numpy, matplotlib, pyspark
sys.exit(0 if int(pyspark.__version__.split(".")[0]) >= 4 else 1)
EOF
then
    echo "setup-spark: pyspark $("$PY" -c 'import pyspark; print(pyspark.__version__)') already installed in $VENV"
    exit 0
fi

# pyspark is a ~450 MB source archive that pip builds into a wheel once (cached afterwards).
"$PY" -m pip install --quiet --disable-pip-version-check "$PYSPARK_SPEC" "matplotlib>=3.7"
"$PY" -c 'import pyspark, numpy, matplotlib; print("setup-spark: pyspark", pyspark.__version__, "numpy", numpy.__version__, "matplotlib", matplotlib.__version__)'
echo "setup-spark: ready in $(( $(date +%s) - start ))s"
