"""Seeded random samples without replacement: uniform, stratified by a field, or active."""

from __future__ import annotations

import random
from collections import defaultdict

from core.errors import ConfigError
from core.models import QARecord


def sample_records(
    records: list[QARecord], n: int, seed: int = 0, stratify: str | None = None
) -> list[QARecord]:
    """``n`` distinct records chosen with ``random.Random(seed)``; same inputs, same sample.

    With ``stratify="topic"`` each stratum gets a share proportional to its size (largest
    remainders), so small topics are not left out by chance.
    """
    if n < 1:
        raise ConfigError(f"--n should be at least 1, got {n}")
    if n >= len(records):
        return list(records)
    rng = random.Random(seed)
    if stratify is None:
        return rng.sample(records, n)
    if stratify not in QARecord.model_fields:
        raise ConfigError(f"cannot stratify by {stratify!r}; use a record field such as 'topic'")
    strata: dict[str, list[QARecord]] = defaultdict(list)
    for record in records:
        strata[str(getattr(record, stratify) or "")].append(record)
    quotas = {key: n * len(group) / len(records) for key, group in sorted(strata.items())}
    counts = {key: int(q) for key, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda key: (counts[key] - quotas[key], key))
    for key in by_remainder[: n - sum(counts.values())]:
        counts[key] += 1
    chosen = [r for key in sorted(strata) for r in rng.sample(strata[key], counts[key])]
    rng.shuffle(chosen)
    return chosen


def sample_active(
    records: list[QARecord], p_error: list[float], n: int, seed: int = 0, floor: float = 0.5
) -> tuple[list[QARecord], dict[str, float]]:
    """``n`` records drawn with probabilities favouring those the cheap panel is unsure about.

    Returns the sample (in drawing order) and every record's inclusion probability: a share
    ``floor`` of the sample is spread uniformly, the rest in proportion to ``sqrt(p (1 - p))``
    of the panel's P(error) (see ``audit.stats.active``). Same inputs, same sample.
    """
    from audit.stats.active import active_inclusion_probabilities, pareto_sample, uncertainty

    if len(p_error) != len(records):
        raise ConfigError(f"got {len(p_error)} predictions for {len(records)} records")
    inclusion = active_inclusion_probabilities(uncertainty(p_error), min(n, len(records)), floor)
    chosen = pareto_sample(inclusion, min(n, len(records)), seed)
    probabilities = {r.id: float(p) for r, p in zip(records, inclusion, strict=True)}
    return [records[i] for i in chosen], probabilities
