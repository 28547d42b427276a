# Unsloth (and what the QLoRA bench needs) on the lent GPU machine, which has no network:
# wheels fetched here, carried in two parts (one transfer holds 64 MiB with the working tree),
# installed with --no-deps into /tmp/site, which lasts while the machine stays warm (about 30 s
# after a call: make the second call at once).
#
# Here, once (needs the network; writes the git-ignored .whl/dl, .whl/unsloth-a, .whl/unsloth-b):
#     bash bench/device_unsloth.sh prepare
# It runs, for each pin below, `pip download --no-deps --only-binary=:all: --python-version 3.12
# --platform manylinux2014_x86_64 (and manylinux_2_17/_2_24/_2_28) -d .whl/dl PIN`, then
# hard-links the wheels into the two parts. Measured 2026-12-01 (bytes):
#   part a, .whl/unsloth-a, 49,255,275 (47.0 MiB): bitsandbytes 0.50.2 (43.0 MB), pydantic
#     2.14.4, pydantic_core 2.50.5, annotated_types 0.8.0, typing_inspection 0.4.5 (these five
#     from .whl/, bench/device_bundle.sh's), liger_kernel 0.8.5, trl 1.15.0, datasets 4.8.5,
#     dill 0.4.0, multiprocess 0.70.18, tyro 1.0.17, docstring_parser 0.18.0, shtab 1.13.0,
#     typeguard 4.6.1, cut_cross_entropy 25.1.1, msgspec 0.23.0, json5 0.17.3,
#     nest_asyncio 1.6.0, structlog 26.1.0
#   part b, .whl/unsloth-b, 44,841,888 (42.8 MiB): unsloth 2026.10.9 (28.6 MB), unsloth_zoo
#     2026.10.9 (2.9 MB), diffusers 0.42.1 (6.4 MB), torchao 0.18.0 (3.4 MB), hf_transfer 0.1.9
#     (3.6 MB)
#   together 94,097,163 bytes (89.7 MiB).
# Part a alone is what Assay's path and (a)/(b) need (bitsandbytes, pydantic, liger-kernel).
#
# There, two calls back to back (issue 20's table is the second; the first installs part a and
# builds the random Mistral-7B-shaped model, about 25 s, so that the second has the time):
#   1. carry [".whl/unsloth-a"], timeout_s 300:
#      source bench/device_unsloth.sh && python3 bench/qlora_speed.py --build-only --work /tmp/qb
#   2. at once, carry [".whl/unsloth-b"], timeout_s 600:
#      source bench/device_unsloth.sh && set -o pipefail && python3 bench/qlora_speed.py \
#        --phases compare --work /tmp/qb --plain 8x512 --switches 32x512 --assay-tuned 32x512 \
#        --assay-defaults 512 --unsloth 32x512 --repeats 3 --steps 20 --warmup 2 \
#        --time-limit 550 --tag h200_mistral7b_compare512 2>&1 | tee $OUT/log.txt
#      (results: $OUT/qlora_speed_h200_mistral7b_compare512.json; at seq 2048 the same with
#      --plain 2x2048 --switches 8x2048 --assay-tuned 8x2048 --assay-defaults 2048
#      --unsloth 8x2048 and its own tag, after steps 1 and 2 again if the machine went cold)
# Sourced, it installs whichever part the call carries and sets the environment.

_unsloth_prepare() {
    set -euo pipefail
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local pins=("unsloth==2026.10.9" "unsloth_zoo==2026.10.9" "trl==1.15.0" "datasets==4.8.5"
                "tyro==1.0.17" "docstring-parser==0.18.0" "shtab==1.13.0" "typeguard==4.6.1"
                "cut_cross_entropy==25.1.1" "torchao==0.18.0" "msgspec==0.23.0"
                "hf_transfer==0.1.9" "structlog==26.1.0" "json5==0.17.3" "nest-asyncio==1.6.0"
                "dill==0.4.0" "multiprocess==0.70.18" "diffusers==0.42.1" "liger-kernel==0.8.5"
                "bitsandbytes==0.50.2" "pydantic==2.14.4" "pydantic_core==2.50.5"
                "annotated_types==0.8.0" "typing_inspection==0.4.5")
    mkdir -p .whl/dl
    for pin in "${pins[@]}"; do
        .venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux_2_24_x86_64 --platform manylinux_2_28_x86_64 -d .whl/dl "$pin"
    done
    rm -rf .whl/unsloth-a .whl/unsloth-b
    mkdir -p .whl/unsloth-a .whl/unsloth-b
    for wheel in .whl/dl/*.whl; do
        case "$(basename "$wheel")" in
            unsloth-*|unsloth_zoo-*|diffusers-*|torchao-*|hf_transfer-*) ln -f "$wheel" .whl/unsloth-b/ ;;
            *) ln -f "$wheel" .whl/unsloth-a/ ;;
        esac
    done
    du -cb .whl/unsloth-a/*.whl | tail -1
    du -cb .whl/unsloth-b/*.whl | tail -1
}

if [ "${1:-}" = "prepare" ]; then
    _unsloth_prepare
    exit 0
fi

for _part in .whl/unsloth-a .whl/unsloth-b; do
    if ls "$_part"/*.whl >/dev/null 2>&1 && [ ! -f "/tmp/site/.${_part##*/}" ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site "$_part"/*.whl && touch "/tmp/site/.${_part##*/}"
    fi
done
unset _part
echo "device_unsloth: installed parts: $(ls -A /tmp/site 2>/dev/null | grep '^\.unsloth-' | tr '\n' ' ')"
[ -f /tmp/site/.unsloth-a ] || echo "device_unsloth: part a is missing (the machine went cold?): carry .whl/unsloth-a again"
export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONUNBUFFERED=1 UNSLOTH_DISABLE_STATISTICS=1
