#!/usr/bin/env bash
# Set up everything Assay needs in ./.venv on a fresh machine (idempotent).
#   ASSAY_EXTRAS    pip extras to install (default: local,data,train,test)
#   ASSAY_SERVER=1  also build llama-cpp-python[server] (the real OpenAI-compatible test server)
#   ASSAY_BROWSER=1 also install Debian's chromium (HTML report tests)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${ASSAY_EXTRAS:-local,data,train,test}"
py="${PYTHON:-python3}"

if [ "${ASSAY_BROWSER:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

[ -x .venv/bin/python ] || "$py" -m venv .venv
. .venv/bin/activate
# Installed already with these extras and this pyproject.toml: nothing to do (a warm re-run
# of scripts/audit-example.sh must not spend seconds in pip).
stamp=".venv/.assay-installed-$(echo "$extras" | tr ',' '-')-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    python -m pip install -q --upgrade pip
    echo "== installing assay[$extras]"
    # torch first and pinned: the CPU build; an unpinned torch pulls a multi-GB CUDA build.
    python -m pip install -q "torch==2.13.0"
    python -m pip install -q -e ".[$extras]"
    touch "$stamp"
fi

if [ "${ASSAY_SERVER:-0}" = 1 ] && ! python -c "import llama_cpp.server" 2>/dev/null; then
    echo "== building llama-cpp-python[server] (about 4 minutes on 2 cores)"
    # The native build crashes on these CPUs; build for the generic x86-64 target.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" python -m pip install -q "llama-cpp-python[server]==0.3.36"
fi
