"""Active gold samples: inclusion probabilities that favour uncertain records, and a fixed-size
draw that honours them.

Zrnić & Candès (2024) show that the variance of a prediction-powered estimate is smallest when
each record is labelled with probability proportional to the standard deviation of what the
cheap prediction gets wrong, ``sqrt(E[(Y - f)^2 | x])``; for a calibrated P(error) ``p`` that
is ``sqrt(p (1 - p))``. A share ``floor`` of the sample is spread uniformly, so every record
can be drawn (and the inverse-probability weights stay bounded by ``N / (floor · n)``).

The draw is Pareto πps sampling (Rosén 1997): exactly ``n`` records, inclusion probabilities
very close to the targets, and a plain uniform sample without replacement when the targets are
all equal.
"""

from __future__ import annotations

import numpy as np

from core.errors import ConfigError


def uncertainty(p_error) -> np.ndarray:
    """``sqrt(p (1 - p))``: the residual standard deviation of a calibrated P(error)."""
    p = np.clip(np.asarray(p_error, dtype=float), 0.0, 1.0)
    return np.sqrt(p * (1.0 - p))


def active_inclusion_probabilities(scores, n: int, floor: float = 0.5) -> np.ndarray:
    """Inclusion probabilities adding up to ``n``: a share ``floor`` uniform, the rest
    proportional to ``scores`` (e.g. ``uncertainty``); none above 1, none below
    ``floor · n / N``."""
    s = np.asarray(scores, dtype=float).ravel()
    size = s.size
    if not 0 < floor <= 1:
        raise ConfigError(f"floor should be in (0, 1], got {floor}")
    if not 1 <= n <= size:
        raise ConfigError(f"the sample size should be between 1 and {size} records, got {n}")
    if np.isnan(s).any() or (s < 0).any():
        raise ConfigError("scores must be non-negative numbers")
    shape = s / s.sum() if s.sum() > 0 else np.full(size, 1.0 / size)
    pi = n * (floor / size + (1 - floor) * shape)
    # Cap at 1 and hand the excess to the others in proportion, until nothing exceeds 1.
    for _ in range(size):
        over = pi > 1.0
        if not over.any():
            break
        capped = pi >= 1.0
        pi[capped] = 1.0
        rest = ~capped
        pi[rest] *= (n - capped.sum()) / pi[rest].sum()
    return np.minimum(pi, 1.0)


def pareto_sample(inclusion, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` records drawn by Pareto πps sampling, in drawing order.

    Record ``i`` gets the rank ``[U_i / (1 - U_i)] / [π_i / (1 - π_i)]`` (``U_i`` uniform,
    seeded); the ``n`` smallest ranks are the sample. Same inputs, same sample.
    """
    pi = np.asarray(inclusion, dtype=float).ravel()
    if not 1 <= n <= pi.size:
        raise ConfigError(f"the sample size should be between 1 and {pi.size} records, got {n}")
    if ((pi <= 0) | (pi > 1)).any():
        raise ConfigError("inclusion probabilities must be in (0, 1]")
    u = np.random.default_rng(seed).random(pi.size)
    with np.errstate(divide="ignore"):
        rank = (u / (1 - u)) / (pi / (1 - pi))  # π = 1 → rank 0: always drawn
    return np.argsort(rank, kind="stable")[:n]
