#!/usr/bin/env bash
# Set up from scratch (idempotent) and run the whole test suite.
set -uo pipefail
cd "$(dirname "$0")/.."
ASSAY_SERVER=1 ASSAY_BROWSER=1 bash scripts/setup.sh || { echo "setup failed"; exit 1; }
export ASSAY_REQUIRE_SERVER=1 ASSAY_REQUIRE_BROWSER=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: treating as a failure"
    exit 1
fi
exit "$rc"
