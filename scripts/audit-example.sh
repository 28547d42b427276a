#!/usr/bin/env bash
# Set up from scratch (idempotent) and audit 40 records of the bundled example, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSAY_EXTRAS=local bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/audit sample --n 40 "$@"
