#!/usr/bin/env bash
# Here: pack what the lent GPU machine lacks (it has no network) into parts that fit one
# transfer each: the packaged Gemma GGUF, the all-MiniLM-L6-v2 folder, and the wheels in .whl/
# (bitsandbytes, pydantic, gguf, bm25s, pypdf, liger-kernel; cp312, fetched with
# `pip download --python-version 3.12 --only-binary=:all: --no-deps -d .whl ...`).
# Writes .gp0/ .. .gpN/ (git-ignored); carry one per `run` call, in order, each call starting
# with `source bench/device_env.sh`, which collects the parts and, once all are there, unpacks.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$($py -c 'from core.local_model import gguf_path; print(gguf_path())')" "$stage/gemma.gguf"
cp -r "$($py -c 'from core.embeddings import model_path; print(model_path())')" "$stage/minilm"
mkdir "$stage/whl" && cp .whl/*.whl "$stage/whl/"  # not the subfolders (device_unsloth.sh's)
tar -C "$stage" -cf - . | gzip -1 > "$stage.tgz"
rm -rf .gp[0-9]*
split -b 62000000 -d -a 1 "$stage.tgz" "$stage.part"
n=0
for part in "$stage".part*; do
    mkdir -p ".gp$n" && mv "$part" ".gp$n/part$n"
    n=$((n + 1))
done
echo "$n $(sha256sum "$stage.tgz" | cut -d' ' -f1)" | tee .gp0/manifest
rm "$stage.tgz"
