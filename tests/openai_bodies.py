"""Response bodies shaped exactly like OpenAI's, for fakes at the HTTP layer."""

from __future__ import annotations


def chat_completion(content: str, prompt_tokens: int = 120, completion_tokens: int = 45,
                    *, id: str = "chatcmpl-BvKq2Xy8tH3mZ9QeLr0aPq1sT5uVw") -> dict:
    """A real ``POST /v1/chat/completions`` response body (also a batch output line's body)."""
    return {
        "id": id,
        "object": "chat.completion",
        "created": 1753112345,
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_6f2eabb9a5",
    }
