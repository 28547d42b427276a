"""Where the embedding model is found: the packaged one, or a copy named by $ASSAY_EMBEDDER."""

from __future__ import annotations

import shutil

import pytest

from core import embeddings
from core.errors import ConfigError


def test_assay_embedder_names_a_copy_of_the_model(tmp_path, monkeypatch):
    copy = tmp_path / "minilm"
    shutil.copytree(embeddings.model_path(), copy)
    monkeypatch.setenv("ASSAY_EMBEDDER", str(copy))
    assert embeddings.model_path() == copy


def test_assay_embedder_without_a_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_EMBEDDER", str(tmp_path))
    with pytest.raises(ConfigError, match="not a sentence-transformers folder"):
        embeddings.model_path()
