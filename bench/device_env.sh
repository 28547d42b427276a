# Source on the lent GPU machine, in the repository root, with one .gpN part carried (see
# bench/device_bundle.sh). Parts collect in /tmp/g, which lasts while the machine stays warm;
# once all are there they are checked, unpacked, the wheels installed into /tmp/site, and the
# environment points Assay at the carried models.
mkdir -p /tmp/g
for part in .gp[0-9]*/*; do [ -f "$part" ] && cp "$part" /tmp/g/; done
if [ ! -f /tmp/g/ready ] && [ -f /tmp/g/manifest ]; then
    read -r n sha < /tmp/g/manifest
    have=$(ls /tmp/g/part* 2>/dev/null | wc -l)
    echo "device_env: $have of $n parts here"
    if [ "$have" = "$n" ]; then
        ls /tmp/g/part* | sort -V | xargs cat > /tmp/g/bundle.tgz
        echo "$sha  /tmp/g/bundle.tgz" | sha256sum -c --quiet && tar -C /tmp/g -xzf /tmp/g/bundle.tgz \
            && pip install --quiet --no-deps --target /tmp/site /tmp/g/whl/*.whl \
            && rm /tmp/g/bundle.tgz /tmp/g/part* && touch /tmp/g/ready
    fi
fi
export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
export ASSAY_GGUF=/tmp/g/gemma.gguf ASSAY_EMBEDDER=/tmp/g/minilm ASSAY_CACHE=/tmp/ac
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
