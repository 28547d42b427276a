"""The ``local`` provider: an in-process transformers model (default: packaged Gemma 3 270M).

Besides ``complete`` (greedy generation at temperature 0) it scores continuations by
log-likelihood, which is what a 270M model is measurably good for. All torch work runs in a
worker thread behind one process-wide lock: torch already uses every core for one forward
pass, so running two at once only thrashes the CPU.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ProviderError
from core.local_model import DEFAULT_LOCAL_MODEL, load_model
from core.providers.base import Capabilities, ChatRequest, Completion

TORCH_LOCK = threading.Lock()  # one forward pass at a time in this process
PLAIN_STOP = "\nUser:"


@dataclass
class ContinuationScore:
    """Log-probabilities (natural log) of a continuation's tokens given a prompt."""

    tokens: list[str]
    logprobs: list[float]
    prompt_tokens: int
    token_ids: list[int] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))

    @property
    def mean(self) -> float:
        return self.total / len(self.logprobs) if self.logprobs else 0.0


class LocalProvider:
    """An in-process causal LM; ``model`` is ``"gemma-3-270m"`` or a Hugging Face folder."""

    name = "local"
    capabilities = Capabilities(json_schema=False, logprobs=True, seed=True)

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_LOCAL_MODEL,
        *,
        max_batch_tokens: int = 4096,
        max_context_tokens: int = 4096,
    ) -> None:
        if max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens should be positive, got {max_batch_tokens}")
        self.model = str(model) or DEFAULT_LOCAL_MODEL
        self.max_batch_tokens = max_batch_tokens
        self.max_context_tokens = max_context_tokens
        self.forward_passes = 0  # batched scoring passes + generate calls, for accounting
        self.tokens_in = 0
        self.tokens_out = 0

    # -- loading ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check the packages and make the model folder (converted once per machine) without
        loading the model; raise a persistent error naming the fix."""
        from core.extras import require
        from core.local_model import resolve_model_dir

        require("local", f"the local model {self.model!r}")
        self._load(resolve_model_dir)

    def _load(self, load: Callable[[str], Any] = load_model) -> Any:
        try:
            return load(self.model)
        except (OSError, ValueError, ImportError) as exc:
            raise ProviderError(
                f"cannot load the local model {self.model!r}: {exc}",
                provider=self.name,
                model=self.model,
                persistent=True,  # a load that failed once fails again: do not retry per record
            ) from exc

    @property
    def tokenizer(self) -> Any:
        return self._load()[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generation ------------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Completion:
        """Generate a reply; greedy at temperature 0, seeded sampling otherwise.

        ``request.params``: ``completion`` (continue the raw text, no chat wrapping), ``stop``
        (strings that end a completion), ``top_p``.
        """
        return await asyncio.to_thread(self._complete_locked, request)

    def _complete_locked(self, request: ChatRequest) -> Completion:
        with TORCH_LOCK:
            return self._complete(request)

    def _complete(self, request: ChatRequest) -> Completion:
        import torch
        from transformers import GenerationConfig

        tokenizer, model = self._load()
        prompt, plain = self.format_prompt(request.messages)
        # params["completion"]: continue the messages' text as is (few-shot prompts for a
        # base model), stopping at any of params["stop"]; no chat or User:/Assistant: wrapping.
        completion = bool(request.params.get("completion"))
        if completion:
            prompt = "\n\n".join(m["content"] for m in request.messages)
        stops = [str(s) for s in request.params.get("stop", [])] if completion else []
        stops += [PLAIN_STOP] if plain and not completion else []
        # A chat template writes its own BOS; the plain format needs the tokenizer's.
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=plain or completion)
        input_ids = encoded["input_ids"][:, -self.max_context_tokens :].to(model.device)
        sampling = request.temperature > 0
        config = GenerationConfig(
            max_new_tokens=request.max_tokens,
            do_sample=sampling,
            temperature=request.temperature if sampling else None,
            top_p=float(request.params.get("top_p", 1.0)) if sampling else None,
            top_k=None,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        if sampling and request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                stopping_criteria=_stop_on_text(tokenizer, stops, input_ids.shape[1]),
            )
        self.forward_passes += 1
        new_ids = output[0, input_ids.shape[1] :].tolist()
        text = tokenizer.decode(new_ids, skip_special_tokens=True)
        stopped = bool(new_ids) and new_ids[-1] == tokenizer.eos_token_id
        for stop in stops:
            if stop in text:
                text, stopped = text.split(stop, 1)[0], True
        n_in, n_out = int(input_ids.shape[1]), len(new_ids)
        self.tokens_in += n_in
        self.tokens_out += n_out
        return Completion(
            text=text.strip(),
            tokens_in=n_in,
            tokens_out=n_out,
            model=self.model,
            finish_reason="stop" if stopped or n_out < request.max_tokens else "length",
        )

    def format_prompt(self, messages: list[dict[str, str]]) -> tuple[str, bool]:
        """(prompt text, uses the plain format): the chat template if the tokenizer has one,
        else ``System:/User:/Assistant:`` lines ending with ``Assistant:``."""
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return text, False
        names = {"system": "System", "user": "User", "assistant": "Assistant"}
        lines = [f"{names.get(m['role'], 'User')}: {m['content'].strip()}" for m in messages]
        return "\n".join(lines) + "\nAssistant:", True

    # -- likelihood scoring ----------------------------------------------------------------

    def score(self, prompt: str, continuations: list[str]) -> list[float]:
        """Sum of token log-probabilities (nats) of each continuation given ``prompt``.

        Continuations are scored verbatim (include a leading space if the text needs one).
        """
        return [s.total for s in self.score_pairs([(prompt, c) for c in continuations])]

    def score_mean(self, prompt: str, continuations: list[str]) -> list[float]:
        """Mean token log-probability of each continuation given ``prompt``."""
        return [s.mean for s in self.score_pairs([(prompt, c) for c in continuations])]

    async def ascore_pairs(self, pairs: list[tuple[str, str]]) -> list[ContinuationScore]:
        """``score_pairs`` in a worker thread (for async callers)."""
        return await asyncio.to_thread(self.score_pairs, pairs)

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[ContinuationScore]:
        """Per-token log-probabilities of each (prompt, continuation) pair, batched.

        The prompt gets the tokenizer's BOS; the continuation is tokenized on its own so its
        tokens are the same whatever the prompt. Pairs longer than ``max_context_tokens``
        lose the start of their prompt.
        """
        tokenizer, _ = self._load()
        encoded = []
        for prompt, continuation in pairs:
            p_ids = tokenizer(prompt)["input_ids"]
            c_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
            if not c_ids:
                raise ValueError("cannot score an empty continuation")
            keep = max(1, self.max_context_tokens - len(c_ids))
            if len(p_ids) > keep:  # keep BOS, drop the oldest prompt tokens
                p_ids = p_ids[:1] + p_ids[len(p_ids) - keep + 1 :]
            encoded.append((p_ids, c_ids))
        results: list[ContinuationScore | None] = [None] * len(pairs)
        with TORCH_LOCK:
            for batch in self._batches(encoded):
                scored = self._score_batch([encoded[i] for i in batch])
                for index, score in zip(batch, scored, strict=True):
                    results[index] = score
        return [r for r in results if r is not None]

    def _batches(self, encoded: list[tuple[list[int], list[int]]]) -> list[list[int]]:
        """Indices grouped by similar length: a batch stays within ``max_batch_tokens`` and
        wastes at most a quarter of its compute on padding (padding costs full price on CPU)."""
        lengths = [len(p) + len(c) for p, c in encoded]
        order = sorted(range(len(encoded)), key=lengths.__getitem__)
        batches: list[list[int]] = []
        current: list[int] = []
        real = 0
        for i in order:
            padded = lengths[i] * (len(current) + 1)  # sorted: this one is the longest
            if current and (padded > self.max_batch_tokens or padded > 1.25 * (real + lengths[i])):
                batches.append(current)
                current, real = [], 0
            current.append(i)
            real += lengths[i]
        if current:
            batches.append(current)
        return batches

    def _score_batch(self, items: list[tuple[list[int], list[int]]]) -> list[ContinuationScore]:
        import torch

        tokenizer, model = self._load()
        width = max(len(p) + len(c) for p, c in items)
        pad = tokenizer.pad_token_id or 0
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, (p, c) in enumerate(items):  # right padding keeps position ids exact
            ids[row, : len(p) + len(c)] = torch.tensor(p + c)
            mask[row, : len(p) + len(c)] = 1
        with torch.inference_mode():
            ids, mask = ids.to(model.device), mask.to(model.device)
            hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
            rows: list[int] = []
            cols: list[int] = []
            for row, (p, c) in enumerate(items):
                rows += [row] * len(c)
                cols += range(len(p) - 1, len(p) + len(c) - 1)  # position t predicts t+1
            logits = model.lm_head(hidden[rows, cols]).float()
            softcap = getattr(model.config, "final_logit_softcapping", None)
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            logprobs = torch.log_softmax(logits, dim=-1)
            targets = torch.tensor([t for _, c in items for t in c], device=model.device)
            picked = logprobs[torch.arange(len(targets), device=model.device), targets].tolist()
        self.forward_passes += 1
        self.tokens_in += int(mask.sum())
        out, start = [], 0
        for p, c in items:
            chunk = picked[start : start + len(c)]
            start += len(c)
            out.append(
                ContinuationScore(
                    tokens=tokenizer.convert_ids_to_tokens(c),
                    logprobs=chunk,
                    prompt_tokens=len(p),
                    token_ids=list(c),
                )
            )
        return out


def _stop_on_text(tokenizer: Any, stops: list[str], prompt_len: int) -> Any:
    """A stopping criterion that ends generation once a stop string appears in the new text.

    Cheaper than ``GenerationConfig(stop_strings=...)``, whose set-up scans Gemma's 262k-token
    vocabulary on every call (seconds on a small CPU): this decodes the last tokens per step.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    tail_tokens = max((len(s) for s in stops), default=0) + 2  # a token holds >= 1 character

    class StopOnText(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [
                any(s in tokenizer.decode(row[prompt_len:][-tail_tokens:]) for s in stops)
                for row in input_ids.tolist()
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnText()] if stops else [])
