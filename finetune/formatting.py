"""Records -> token ids with the model's chat template; loss on the answer tokens only.

The question (after the record's earlier ``context`` turns) is the user turn and the answer
the assistant turn. The prompt is rendered with ``add_generation_prompt=True``; the answer is
what the full conversation adds after it. Prompt tokens get label -100, answer tokens (and the
template's end-of-turn tokens) are learned.

A tokenizer without a chat template gets ``FALLBACK_TEMPLATE`` (documented below); the
template used, its text and sha256 go into every handoff manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.models import QARecord, sha256_text
from finetune.handoff import ChatTemplateInfo

IGNORE_INDEX = -100

# Used when the tokenizer has no chat template (e.g. a base model or a GGUF conversion):
#   <bos>### Question:\n{question}\n\n### Answer:\n{answer}<eos>
# with earlier turns of a conversation rendered the same way, and a system turn as plain text.
FALLBACK_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}### Question:\n{{ message['content'] }}\n\n"
    "{% else %}### Answer:\n{{ message['content'] }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Answer:\n{% endif %}"
)


def template_info(tokenizer: Any) -> ChatTemplateInfo:
    """Which chat template formats the records: the tokenizer's own, or the fallback."""
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):  # several named templates: the default one trains
        own = own.get("default")
    if isinstance(own, str) and own.strip():
        return ChatTemplateInfo(source="tokenizer", text=own, sha256=sha256_text(own))
    return ChatTemplateInfo(source="fallback", text=FALLBACK_TEMPLATE,
                            sha256=sha256_text(FALLBACK_TEMPLATE))


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def messages_for(record: QARecord) -> list[dict[str, str]]:
    turns = [{"role": t.role, "content": t.content} for t in record.context]
    return turns + [{"role": "user", "content": record.question},
                    {"role": "assistant", "content": record.answer}]


def encode_record(tokenizer: Any, record: QARecord, template: ChatTemplateInfo,
                  max_tokens: int) -> Encoded:
    """Token ids and labels of one record, cut to ``max_tokens`` at the end."""
    messages = messages_for(record)
    prompt = tokenizer.apply_chat_template(messages[:-1], chat_template=template.text,
                                           tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, chat_template=template.text, tokenize=False)
    if not full.startswith(prompt):
        raise ConfigError(
            f"record {record.id}: the chat template renders the conversation so that it does "
            "not start with the prompt; answer-only labels cannot be placed. Use a model whose "
            "template appends the assistant turn, or remove its chat_template to use the fallback"
        )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    ids = list(prompt_ids) + list(answer_ids)
    labels = [IGNORE_INDEX] * len(prompt_ids) + list(answer_ids)
    truncated = len(ids) > max_tokens
    return Encoded(ids[:max_tokens], labels[:max_tokens], truncated)


def encode_records(tokenizer: Any, records: list[QARecord], template: ChatTemplateInfo,
                   max_tokens: int) -> tuple[list[Encoded], int]:
    """Every record encoded, and how many were cut."""
    encoded = [encode_record(tokenizer, r, template, max_tokens) for r in records]
    return encoded, sum(e.truncated for e in encoded)
