"""Prediction-powered inference (PPI++) for an error rate: cheap predictions on every record,
corrected by gold labels on a sample of them.

A cheap judge gives a prediction ``f_i`` (a P(error), or a 0/1 label) for each of the ``N``
records of a dataset; a gold judge labels ``Y_i`` (1 = error) on a random sample of them. The
rate of the whole dataset is estimated by

    θ̂ = λ · mean_N(f) + (1/N) Σ_sample (Y_i − λ f_i) / π_i

— the cheap rate, corrected by the gold sample's view of how wrong the cheap judge is — where
``π_i`` is record ``i``'s inclusion probability (``n/N`` for a uniform sample) and ``λ`` is
chosen from the data to make the interval narrow (PPI++ power tuning,
Angelopoulos, Duchi & Zrnić 2023; ``λ = 0`` is the gold sample alone, ``λ = 1`` plain PPI,
Angelopoulos et al., Science 2023). Inverse-probability weights make it unbiased under a sample
drawn with unequal probabilities (active sampling, Zrnić & Candès 2024). Whatever the cheap
judge predicts, the estimate is unbiased; only the width depends on how informative it is.

Two variants:

- ``ppi_rate`` (what Assay reports) targets the rate of *this* dataset of ``N`` records. Its
  variance is the design variance of a fixed-size sample drawn without replacement (Hájek /
  Rosén's approximation for unequal probabilities; for a uniform sample it is exactly the
  textbook ``(1 − n/N) s²/n`` of the residuals), so a sample that is a large share of the
  dataset gets the finite-population correction, as the gold-only Wilson interval does. With
  λ tuned on the gold sample one more degree of freedom is spent, and the interval uses the
  Student t quantile with ``m − 1 − k`` degrees of freedom (``m`` gold labels, ``k`` = 1 when
  λ is tuned): the normal one undercovers with a few dozen gold labels (see
  bench/ppi_simulation.py).
- ``ppi_mean`` is PPI++ as published and as the authors' ``ppi-python`` computes it
  (``ppi_mean_ci`` with power tuning): labelled and unlabelled records are independent draws
  from an infinite population. The tests check it against ``ppi-python``.

Two small-sample corrections keep ``ppi_rate``'s interval at its nominal coverage with a few
dozen gold labels (bench/ppi_simulation.py found it short without each; a test in
tests/audit/test_stats_ppi.py fails without each):

- λ is the least-squares slope of the gold labels on the predictions over the labelled
  records, *unweighted* — for a uniform sample exactly PPI++'s power-tuning formula. Under an
  active design the inclusion probabilities are a function of the predictions alone, so the
  sample's regression of gold on prediction needs no weights (Pfeffermann 1993, "The role of
  sampling weights when modeling survey data", Int. Stat. Rev. 61); the 1/π-weighted,
  variance-minimising λ is pulled about by the few heavily weighted records (standard
  deviation 0.15 over samples against 0.07 unweighted on the bundled example, n = 100) and,
  tuned on the same sample, it moved with the estimate's own error (correlation 0.58): 93%
  coverage where a λ fixed in advance gave 95%. Any λ keeps the estimate unbiased; the choice
  only trades width against stability.
- The rectifier ``y − λf`` is skewed when its variance rests on a few records — rare
  disagreements between a label prediction and the gold label, or rare confident mistakes
  given large weights by an active design — and then the estimate and its standard error move
  together (a sample with few disagreements is both too low and too sure of itself: the Wald
  interval's failure, Brown, Cai & DasGupta 2001). The two-sided coverage of a studentized
  mean of ``n`` values is ``2Φ(x) − 1 + 2 q₂(x) φ(x) / n`` with ``q₂(x) = x[κ(x² − 3)/12 −
  γ²(x⁴ + 2x² − 3)/18 − (x² + 3)/4]``, ``γ`` and ``κ`` the values' skewness and excess kurtosis
  (Hall 1992, *The Bootstrap and Edgeworth Expansion*, §2.6). Student's t already pays the
  last, normal-theory term; the skewness term is added to the critical value as
  ``z (γ²/n) (z⁴ + 2z² − 3)/18``, with ``γ²/n`` — the squared skewness of the estimate itself —
  estimated under the design: the third cumulant squared over the variance cubed, each record
  weighted ``(1 − π)(1 − 2π)`` and ``(1 − π)`` as in Rosén's variance. For a uniform sample
  this is ``(1 − 2f)²/(1 − f) · g₁²/n`` (``f = n/N``; the third moment of a mean drawn without
  replacement, e.g. Babu & Singh 1985, J. Multivariate Anal. 17), so the correction fades as
  the sample nears a census. The kurtosis term is left out: at 95% its weight ``(z² − 3)/12 ≈
  0.07`` is small beside the skewness term's ≈ 1.08, and for the heavy-tailed rectifiers in
  question it would only narrow the interval. With symmetric residuals the correction
  vanishes and the interval is the t interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from audit.stats.rates import z_value
from audit.stats.results import Interval, Serialisable
from core.errors import ConfigError


@dataclass(frozen=True)
class PPIEstimate(Serialisable):
    """A prediction-powered estimate of a rate, with its normal-approximation interval.

    ``lam`` is the weight given to the cheap predictions (0: gold labels alone; 1: plain PPI).
    ``prediction_mean`` is the cheap judges' own rate over the ``population`` records and
    ``gold_minus_prediction`` how far the gold labels are above it on the labelled records
    (inverse-probability weighted): the bias PPI corrects.
    """

    estimate: float
    interval: Interval
    std_error: float
    lam: float
    n_gold: int
    population: int
    prediction_mean: float
    gold_minus_prediction: float
    correlation: float | None
    confidence: float
    weighted: bool = False
    finite_population: bool = True
    critical_value: float | None = None  # half-width / std_error (t, plus the skewness term)


def t_value(confidence: float, df: int) -> float:
    """Two-sided Student t quantile: the normal one widened for few gold labels."""
    z_value(confidence)  # validates confidence
    return float(sps.t.ppf(1 - (1 - confidence) / 2, df))


def _as_float(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size and not np.isfinite(array[~np.isnan(array)]).all():
        raise ConfigError(f"{name} must be finite numbers (NaN = no label)")
    return array


def _check_binary(gold: np.ndarray) -> None:
    present = gold[~np.isnan(gold)]
    if not np.isin(present, (0.0, 1.0)).all():
        raise ConfigError("gold labels must be 0 (ok) or 1 (error), NaN where there is none")


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _scaled_inclusion(inclusion: np.ndarray | None, labelled: np.ndarray) -> np.ndarray:
    """Inclusion probabilities scaled so they add up to the number of gold labels.

    For a uniform sample this is ``m/N``; for a domain (a topic) or when some sampled records
    have no gold label, the labelled records are treated as a sample of that size drawn with
    probabilities proportional to the design's.
    """
    n_total, m = labelled.size, int(labelled.sum())
    if inclusion is None:
        return np.full(n_total, m / n_total)
    if inclusion.shape != labelled.shape:
        raise ConfigError(f"got {inclusion.size} inclusion probabilities for {n_total} records")
    if (inclusion <= 0).any() or (inclusion > 1).any():
        raise ConfigError("inclusion probabilities must be in (0, 1]: every record must be drawable")
    return np.minimum(inclusion * m / inclusion.sum(), 1.0)


def _design_covariance(a: np.ndarray, b: np.ndarray, pi: np.ndarray, population: int,
                       extra_parameters: int) -> float:
    """Design covariance of the weighted means of ``a`` and ``b`` over a fixed-size sample.

    Rosén's (1997) estimator for πps sampling, ``m/(m-1-k) Σ (1-π)(a/π - A)(b/π - B) / N²``
    with ``A = Σ (1-π) a/π / Σ (1-π)``; ``k`` counts parameters fitted on the sample (λ).
    """
    m = a.size
    weight = 1.0 - pi
    if weight.sum() <= 0 or m - 1 - extra_parameters <= 0:
        return 0.0  # a census: nothing is left to sampling error
    za, zb = a / pi, b / pi
    centre_a = (weight * za).sum() / weight.sum()
    centre_b = (weight * zb).sum() / weight.sum()
    scale = m / (m - 1 - extra_parameters) / population**2
    return float(scale * (weight * (za - centre_a) * (zb - centre_b)).sum())


def _tuned_lambda(gold: np.ndarray, predicted: np.ndarray) -> float:
    """PPI++ power tuning on the labelled records: the unweighted least-squares slope of gold
    on prediction, clipped to [0, 1] (0 when the predictions do not vary)."""
    spread = float(((predicted - predicted.mean()) ** 2).sum())
    if spread <= 0:
        return 0.0
    slope = float(((predicted - predicted.mean()) * (gold - gold.mean())).sum()) / spread
    return float(np.clip(slope, 0.0, 1.0))


def _skewness_term(residual, pi, confidence: float) -> float:
    """What the skewness of the estimate adds to the critical value (Hall 1992, §2.6).

    ``z γ̂² (z⁴ + 2z² − 3) / 18`` with ``γ̂ = Σ(1−π)(1−2π)d³ / (Σ(1−π)d²)^{3/2}``, ``d`` the
    residuals over π centred as in Rosén's variance: the estimate's skewness under the design.
    """
    residual, pi = np.asarray(residual, dtype=float), np.asarray(pi, dtype=float)
    weight = 1.0 - pi
    if weight.sum() <= 0:
        return 0.0
    z = residual / pi
    d = z - (weight * z).sum() / weight.sum()
    second = float((weight * d**2).sum())
    if second <= 0:
        return 0.0
    skew_squared = float((weight * (1.0 - 2.0 * pi) * d**3).sum()) ** 2 / second**3
    q = z_value(confidence)
    return q * skew_squared * (q**4 + 2 * q**2 - 3) / 18


def ppi_rate(
    predicted,
    gold,
    *,
    inclusion=None,
    confidence: float = 0.95,
    lam: float | None = None,
    skewness_correction: bool = True,
) -> PPIEstimate:
    """PPI++ estimate and interval of the rate of a dataset of ``N`` records.

    ``predicted``: the cheap prediction for every record (N values in [0, 1]); ``gold``: 1/0
    where a gold label exists, NaN elsewhere; ``inclusion``: each record's probability of being
    in the gold sample (None: a uniform sample). ``lam=None`` tunes λ in [0, 1] (the slope of
    gold on prediction over the labelled records). The half-width is ``critical_value ×
    std_error``: Student's t plus, with ``skewness_correction``, the skewness term (module
    docstring). Needs at least three gold labels (two with a fixed ``lam``).
    """
    f, y = _as_float(predicted, "predictions"), _as_float(gold, "gold labels")
    if f.shape != y.shape:
        raise ConfigError(f"got {f.size} predictions for {y.size} records")
    if np.isnan(f).any() or ((f < 0) | (f > 1)).any():
        raise ConfigError("every record needs a prediction between 0 and 1")
    _check_binary(y)
    labelled = ~np.isnan(y)
    m, population = int(labelled.sum()), f.size
    needed = 3 if lam is None else 2  # one degree of freedom more when λ is fitted
    if m < needed:
        raise ConfigError(f"PPI needs at least {needed} gold labels, got {m}")
    weighted = inclusion is not None
    pi = _scaled_inclusion(None if inclusion is None else _as_float(inclusion, "inclusion"),
                           labelled)[labelled]
    y_s, f_s = y[labelled], f[labelled]

    def cov(a, b, fitted):
        return _design_covariance(a, b, pi, population, fitted)

    fitted = 0 if lam is not None else 1
    if lam is None:
        lam = _tuned_lambda(y_s, f_s)
    residual = y_s - lam * f_s
    estimate = lam * f.mean() + (residual / pi).sum() / population
    std_error = math.sqrt(max(cov(residual, residual, fitted), 0.0))
    critical = t_value(confidence, m - 1 - fitted)
    if skewness_correction:
        critical += _skewness_term(residual, pi, confidence)
    half = critical * std_error
    weights = (1 / pi) / (1 / pi).sum()
    return PPIEstimate(
        estimate=float(estimate),
        interval=Interval(max(0.0, estimate - half), min(1.0, estimate + half)),
        std_error=std_error,
        lam=float(lam),
        n_gold=m,
        population=population,
        prediction_mean=float(f.mean()),
        gold_minus_prediction=float((weights * (y_s - f_s)).sum()),
        correlation=_correlation(y_s, f_s),
        confidence=confidence,
        weighted=weighted,
        finite_population=True,
        critical_value=critical,
    )


def ppi_mean(
    gold,
    predicted_labelled,
    predicted_unlabelled,
    *,
    confidence: float = 0.95,
    lam: float | None = None,
) -> PPIEstimate:
    """PPI++ for a mean as published (``ppi_py.ppi_mean_ci``): an infinite-population interval.

    ``gold`` and ``predicted_labelled`` are the labelled records, ``predicted_unlabelled`` the
    other records' predictions (independent draws). ``lam=None`` tunes λ as ppi-python does,
    ``Cov(Y, f) / ((1 + n/N) Var(f))`` clipped to [0, 1].
    """
    y = _as_float(gold, "gold labels")
    f_l = _as_float(predicted_labelled, "predictions")
    f_u = _as_float(predicted_unlabelled, "predictions")
    if y.shape != f_l.shape or np.isnan(y).any():
        raise ConfigError("ppi_mean needs one prediction per gold label and no missing labels")
    n, big_n = y.size, f_u.size
    if n < 2 or big_n < 2:
        raise ConfigError(f"PPI needs at least 2 labelled and 2 unlabelled records, got {n}, {big_n}")
    if lam is None:
        cov_yf = float(((y - y.mean()) * (f_l - f_l.mean())).mean())
        var_f = float(np.var(np.concatenate([f_l, f_u]), ddof=1))
        lam = 0.0 if var_f == 0 else float(np.clip(cov_yf / ((1 + n / big_n) * var_f), 0, 1))
    estimate = lam * f_u.mean() + (y - lam * f_l).mean()
    std_error = math.sqrt((lam * f_u).var() / big_n + (y - lam * f_l).var() / n)
    half = z_value(confidence) * std_error
    return PPIEstimate(
        estimate=float(estimate),
        interval=Interval(float(estimate - half), float(estimate + half)),
        std_error=std_error,
        lam=float(lam),
        n_gold=n,
        population=n + big_n,
        prediction_mean=float(np.concatenate([f_l, f_u]).mean()),
        gold_minus_prediction=float((y - f_l).mean()),
        correlation=_correlation(y, f_l),
        confidence=confidence,
        weighted=False,
        finite_population=False,
        critical_value=z_value(confidence),
    )
