"""Provider batch services (OpenAI Batch API, Gemini batch mode) behind one small contract."""

from core.batch.jobs import (
    BatchBackend,
    BatchItem,
    Estimate,
    ItemResult,
    JobSnapshot,
    estimate_tokens,
)

__all__ = ["BatchBackend", "BatchItem", "Estimate", "ItemResult", "JobSnapshot", "estimate_tokens"]
