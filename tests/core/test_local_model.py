"""The packaged local model: GGUF -> Hugging Face folder conversion, loading, the provider."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.local_model import build_once, check_tokenizer, hf_model_dir, load_model, resolve_model_dir
from core.providers.base import ChatRequest, Provider
from core.providers.local import LocalProvider

EVIDENCE = (
    "Employees may carry over at most five unused vacation days into the next calendar "
    "year. Requests to carry over more days must be approved by the head of department."
)
COPIED = " Employees may carry over at most five unused vacation days into the next calendar year."


@pytest.fixture(scope="session")
def model_dir() -> Path:
    # Session scope: resolved once, before any per-test environment change, so the
    # (two-minute) conversion runs at most once per machine.
    return hf_model_dir()


@pytest.fixture(scope="session")
def provider(model_dir: Path) -> LocalProvider:
    return LocalProvider(str(model_dir))


def test_build_once_leaves_nothing_when_the_build_fails(tmp_path: Path) -> None:
    target = tmp_path / "hf" / "model"

    def crash(out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError):
        build_once(target, crash)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == ["model.lock"]


def test_build_once_builds_once_under_concurrency(tmp_path: Path) -> None:
    target = tmp_path / "model"
    calls: list[int] = []

    def slow_build(out: Path) -> None:
        calls.append(1)
        time.sleep(0.3)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"weights")

    threads = [threading.Thread(target=build_once, args=(target, slow_build)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert (target / "model.safetensors").read_bytes() == b"weights"
    assert build_once(target, slow_build) == target
    assert len(calls) == 1


def test_converted_folder_is_a_loadable_hf_model(model_dir: Path) -> None:
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in model_dir.iterdir()}
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "gemma3_text"
    assert "quantization_config" not in config
    assert hf_model_dir() == model_dir  # second call: the folder, no conversion
    tokenizer, model = load_model(str(model_dir))
    assert not model.training
    assert next(model.parameters()).device.type == "cpu"
    assert load_model(str(model_dir))[1] is model  # cached per process
    assert tokenizer.decode(tokenizer("Paris is a city.")["input_ids"][1:]) == "Paris is a city."


def test_unknown_local_model_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Hugging Face model folder"):
        resolve_model_dir(tmp_path / "nothing-here")
    with pytest.raises(ConfigError, match="unknown packaged local model"):
        hf_model_dir("llama-9000")


def test_provider_contract_and_generation(provider: LocalProvider) -> None:
    assert isinstance(provider, Provider)
    assert provider.name == "local"
    assert provider.capabilities.logprobs and provider.capabilities.seed
    request = ChatRequest(
        messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=12
    )
    prompt, plain = provider.format_prompt(request.messages)
    assert plain and prompt.endswith("User: What is the capital of France?\nAssistant:")
    completion = asyncio.run(provider.complete(request))
    assert completion.text.strip()
    assert "User:" not in completion.text
    assert completion.tokens_in > 5 and 0 < completion.tokens_out <= 12
    assert completion.finish_reason in {"stop", "length"}
    again = asyncio.run(provider.complete(request))
    assert again.text == completion.text  # greedy at temperature 0


def test_score_prefers_text_copied_from_the_evidence(provider: LocalProvider) -> None:
    words = COPIED.split()
    shuffled = " " + " ".join(words[1::2] + words[0::2])
    prompt = EVIDENCE + "\n\nQuestion: How many vacation days can be carried over?\nAnswer:"
    copied_total, shuffled_total = provider.score(prompt, [COPIED, shuffled])
    assert copied_total > shuffled_total + 5
    copied_mean, shuffled_mean = provider.score_mean(prompt, [COPIED, shuffled])
    assert copied_mean > shuffled_mean
    assert copied_mean < 0


def test_batched_scores_equal_single_scores(provider: LocalProvider) -> None:
    short = ("Question: Who approves extra days?\nAnswer:", " The head of department.")
    long = (EVIDENCE + "\n\n" + short[0], short[1])
    alone = provider.score_pairs([short])[0]
    together = provider.score_pairs([long, short, long])
    assert together[1].logprobs == pytest.approx(alone.logprobs, abs=1e-3)
    assert together[0].logprobs == pytest.approx(together[2].logprobs, abs=1e-4)
    assert together[0].mean > alone.mean  # the evidence makes the answer likelier
    assert together[0].tokens == alone.tokens


def test_tokenizer_check_passes_the_packaged_tokenizer_and_refuses_one_without_merges(
    model_dir: Path,
) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    check_tokenizer(AutoTokenizer.from_pretrained(str(model_dir)))
    # What transformers 5.17 made of the GGUF: a BPE vocabulary without its merges.
    letters = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ."))
    bpe = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(letters)}, merges=[]))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(ConfigError, match="converted the GGUF tokenizer wrongly"):
        check_tokenizer(PreTrainedTokenizerFast(tokenizer_object=bpe))
