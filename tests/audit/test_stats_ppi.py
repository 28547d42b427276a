"""PPI++ for an error rate: hand-computed cases, the authors' ppi-python, and simulated coverage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from audit.stats import (
    active_inclusion_probabilities,
    pareto_sample,
    ppi_mean,
    ppi_rate,
    uncertainty,
)
from audit.stats.ppi import _design_covariance, _scaled_inclusion, _skewness_term
from core.errors import ConfigError

NAN = float("nan")
Z95 = float(sps.norm.ppf(0.975))
EXAMPLE_PANEL = Path(__file__).resolve().parents[2] / "bench" / "results" / "ppi_panel_example.json"

# Ten records, the first five gold-labelled (a uniform sample of 5 of 10).
F = [0.9, 0.8, 0.1, 0.2, 0.7, 0.3, 0.6, 0.1, 0.2, 0.1]  # mean 0.4
Y = [1, 1, 0, 1, 0] + [NAN] * 5


def test_hand_computed_plain_ppi():
    # λ = 1: residuals y - f = .1 .2 -.1 .8 -.7, mean .06 -> estimate .4 + .06 = .46.
    # Around their mean: .04 .14 -.16 .74 -.76, squares add to 1.172, s² = 1.172/4 = .293;
    # variance (1 - 5/10) s²/5 = .0293 (finite-population correction: half the records drawn).
    # The interval uses Student's t with m - 1 = 4 degrees of freedom: 2.776445 (the skewness
    # term is 0 here: each record's weight (1 - π)(1 - 2π) vanishes at π = 1/2).
    result = ppi_rate(F, Y, lam=1.0)
    assert result.estimate == pytest.approx(0.46, abs=1e-12)
    assert result.std_error == pytest.approx(math.sqrt(0.0293), abs=1e-12)
    half = 2.7764451051977934 * math.sqrt(0.0293)
    assert result.interval.high == pytest.approx(0.46 + half, abs=1e-12)
    assert result.interval.low == 0.0  # 0.46 - half < 0: clipped to a rate
    assert (result.n_gold, result.population, result.lam) == (5, 10, 1.0)
    assert result.prediction_mean == pytest.approx(0.4)
    assert result.gold_minus_prediction == pytest.approx(0.06)


def test_hand_computed_power_tuning():
    # λ = the slope of y on f over the gold records: Σ(y-ȳ)(f-f̄) = .28, Σ(f-f̄)² = .532,
    # λ = 10/19. Estimate λ·.4 + mean(y - λf) = .6 - .14λ. Residual sum of squares
    # 1.2 - 2λ(.28) + λ²(.532) = 20/19; one parameter fitted: variance .5 · (20/19)/3 / 5.
    result = ppi_rate(F, Y, confidence=0.5)
    lam = 10 / 19
    assert result.lam == pytest.approx(lam, abs=1e-12)
    assert result.estimate == pytest.approx(0.6 - 0.14 * lam, abs=1e-12)
    assert result.std_error == pytest.approx(math.sqrt(0.5 * (20 / 19) / 3 / 5), abs=1e-12)
    half = 0.7648923284043444 * result.std_error  # t(3 degrees of freedom) at 75%
    assert result.interval.high - result.estimate == pytest.approx(half, abs=1e-12)


def test_skewed_residuals_widen_the_interval_by_halls_term():
    # A uniform sample of 4 of 10 (π = .4), a 0/1 prediction that agrees with the gold label on
    # three records and misses one error: residuals 0 0 0 1, the shape of a sample where
    # disagreements are rare, whose t interval is too sure of itself. Over π: z = 0 0 0 2.5,
    # centred -.625 ×3, 1.875; Σ(1-π)d² = .6 × 4.6875 = 2.8125, Σ(1-π)(1-2π)d³ = .12 × 5.859375
    # = .703125: the estimate's squared skewness .703125² / 2.8125³ = 1/45 (= (1-2f)²/(1-f)
    # × g1²/m of a sample without replacement, g1² = 4/3). Hall's term: z (1/45)(z⁴+2z²-3)/18.
    predicted = [1, 0, 0, 0, 1, 0, 1, 0, 0, 1]
    gold = [1, 0, 0, 1] + [NAN] * 6
    result = ppi_rate(predicted, gold, lam=1.0)
    t3 = 3.182446305284263  # Student's t, 3 degrees of freedom, 95%
    term = Z95 * (1 / 45) * (Z95**4 + 2 * Z95**2 - 3) / 18
    assert _skewness_term([0, 0, 0, 1], np.full(4, 0.4), 0.95) == pytest.approx(term, abs=1e-12)
    assert result.critical_value == pytest.approx(t3 + term, abs=1e-12)
    # Estimate .4 + .25; variance (1 - .4) s²/4 with s² = .25 of the residuals.
    assert result.std_error == pytest.approx(math.sqrt(0.6 * 0.25 / 4), abs=1e-12)
    half = (t3 + term) * result.std_error
    assert (result.interval.low, result.interval.high) == pytest.approx(
        (max(0.0, 0.65 - half), min(1.0, 0.65 + half)), abs=1e-12)
    plain = ppi_rate(predicted, gold, lam=1.0, skewness_correction=False)
    assert plain.critical_value == pytest.approx(t3, abs=1e-12)
    assert (plain.estimate, plain.std_error) == (result.estimate, result.std_error)
    # Symmetric residuals, or a census, add nothing.
    assert _skewness_term([-1, 0, 1, -1, 0, 1], np.full(6, 0.3), 0.95) == pytest.approx(0)
    assert _skewness_term([0, 0, 1], np.ones(3), 0.95) == 0


def test_rare_disagreements_of_a_label_prediction_keep_their_coverage():
    # A population shaped like the HaluEval panel's majority labels (290 records, half errors):
    # the label is 0 on 160 records (16 of them errors), "no majority" (0.5) on 27 (26 errors),
    # 1 on 103 (all errors). With 40 gold labels the few disagreements carry the whole
    # correction; the plain t interval covered 90% here (94% with the skewness term).
    predicted = np.repeat([0.0, 0.5, 1.0], [160, 27, 103])
    truth = np.concatenate([np.repeat([1.0, 0.0], [16, 144]), np.repeat([1.0, 0.0], [26, 1]),
                            np.ones(103)])
    rng = np.random.default_rng(0)
    hits = {True: 0, False: 0}
    reps = 600
    for _ in range(reps):
        drawn = rng.choice(truth.size, 40, replace=False)
        gold = np.full(truth.size, np.nan)
        gold[drawn] = truth[drawn]
        for corrected in (True, False):
            result = ppi_rate(predicted, gold, skewness_correction=corrected)
            hits[corrected] += result.interval.low <= truth.mean() <= result.interval.high
    assert hits[True] / reps >= 0.925
    assert hits[False] / reps < 0.925  # the failure the correction is for


def test_lambda_is_the_unweighted_slope_whatever_the_design():
    # Labelled f = .1 .4 .6 .9, y = 0 1 0 1: Σ(f-f̄)(y-ȳ) = .3, Σ(f-f̄)² = .34, λ = 15/17 with
    # or without inclusion probabilities (they depend on the prediction only, so the
    # sample's regression of gold on prediction needs no weights).
    predicted = [0.1, 0.4, 0.6, 0.9, 0.5, 0.2, 0.8, 0.3]
    gold = [0, 1, 0, 1] + [NAN] * 4
    inclusion = [0.3, 0.7, 0.6, 0.4, 0.7, 0.3, 0.5, 0.5]
    assert ppi_rate(predicted, gold).lam == pytest.approx(15 / 17, abs=1e-12)
    weighted = ppi_rate(predicted, gold, inclusion=inclusion)
    assert weighted.lam == pytest.approx(15 / 17, abs=1e-12)
    # The 1/π-weighted variance-minimising λ (the earlier tuning) is another number here.
    labelled = ~np.isnan(np.array(gold, dtype=float))
    pi = _scaled_inclusion(np.array(inclusion), labelled)[labelled]
    y, f = np.array(gold[:4], dtype=float), np.array(predicted[:4])
    old = _design_covariance(y, f, pi, 8, 1) / _design_covariance(f, f, pi, 8, 1)
    assert abs(min(max(old, 0), 1) - 15 / 17) > 0.05


def test_tuned_lambda_is_stable_under_an_active_design():
    # The bundled example's real panel (bench/results/ppi_panel_example.json), an active
    # sample of 100 of 231: the 1/π-weighted λ swung by 0.15 from sample to sample and moved
    # with the estimate's error (93% coverage in bench/ppi_simulation.py); the unweighted
    # slope swings by about half as much.
    records = json.loads(EXAMPLE_PANEL.read_text(encoding="utf-8"))["records"]
    truth = np.array([r["truth"] for r in records], dtype=float)
    p_error = np.array([r["p_error"] for r in records])
    inclusion = active_inclusion_probabilities(uncertainty(p_error), 100, 0.5)
    lams = []
    for rep in range(300):
        drawn = pareto_sample(inclusion, 100, seed=rep)
        gold = np.full(truth.size, np.nan)
        gold[drawn] = truth[drawn]
        lams.append(ppi_rate(p_error, gold, inclusion=inclusion).lam)
    assert np.std(lams) < 0.1


def test_lambda_zero_is_the_gold_sample_alone():
    result = ppi_rate(F, Y, lam=0.0)
    assert result.estimate == pytest.approx(0.6)  # 3 errors in 5 gold labels
    assert result.std_error == pytest.approx(math.sqrt(0.5 * (1.2 / 4) / 5))


def test_hand_computed_weighted_estimate():
    # Records 0 and 3 labelled, drawn with probabilities .5 and .75 (they add up to 2 = m).
    # λ = 1: mean f = .35; HT correction (.4/.5 - .2/.75)/4 = 2/15. Rosén: z = .8, -4/15,
    # centre A = (.5·.8 + .25·(-4/15))/.75 = 4/9; Σ(1-π)(z-A)² = .18963; × m/(m-1)/N² = 1/8.
    result = ppi_rate([0.6, 0.2, 0.4, 0.2], [1, NAN, NAN, 0],
                      inclusion=[0.5, 0.5, 0.25, 0.75], lam=1.0)
    assert result.estimate == pytest.approx(0.35 + 2 / 15, abs=1e-12)
    spread = 0.5 * (0.8 - 4 / 9) ** 2 + 0.25 * (-4 / 15 - 4 / 9) ** 2
    assert result.std_error == pytest.approx(math.sqrt(spread / 8), abs=1e-12)
    assert result.weighted


def test_a_census_has_no_sampling_error():
    result = ppi_rate([0.2, 0.9, 0.4], [0, 1, 1])
    assert result.estimate == pytest.approx(2 / 3)
    assert result.interval.width == 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lam", [None, 0.3, 1.0])
def test_ppi_mean_matches_ppi_python(seed, lam):
    import ppi_py  # the authors' package (the `test` extra)
    rng = np.random.default_rng(seed)
    n, big_n = 40 + 30 * seed, 500 + 100 * seed
    truth = rng.random(n + big_n) < 0.3
    noise = rng.random(n + big_n) * (0.3 + 0.2 * seed)
    f = np.clip(0.6 * truth + noise, 0, 1)  # informative but biased; seed 0 clips λ at 1
    y, f_l, f_u = truth[:n].astype(float), f[:n], f[n:]
    ours = ppi_mean(y, f_l, f_u, confidence=0.9, lam=lam)
    low, high = ppi_py.ppi_mean_ci(y, f_l, f_u, alpha=0.1, lam=lam)
    point = ppi_py.ppi_mean_pointestimate(y, f_l, f_u, lam=lam)
    assert ours.estimate == pytest.approx(float(np.ravel(point)[0]), abs=1e-12)
    assert (ours.interval.low, ours.interval.high) == pytest.approx(
        (float(np.ravel(low)[0]), float(np.ravel(high)[0])), abs=1e-12)
    if lam is None:
        assert 0 <= ours.lam <= 1


def test_the_finite_interval_agrees_with_ppi_python_on_a_huge_dataset():
    import ppi_py
    rng = np.random.default_rng(7)
    big_n, n = 200_000, 400
    truth = rng.random(big_n) < 0.25
    f = np.clip(0.5 * truth + rng.random(big_n) * 0.5, 0, 1)
    drawn = rng.choice(big_n, n, replace=False)
    gold = np.full(big_n, np.nan)
    gold[drawn] = truth[drawn]
    ours = ppi_rate(f, gold)
    rest = np.setdiff1d(np.arange(big_n), drawn)
    low, high = ppi_py.ppi_mean_ci(truth[drawn].astype(float), f[drawn], f[rest], alpha=0.05)
    # Same estimator up to the tiny λ and variance differences of an infinite population.
    assert ours.interval.low == pytest.approx(float(np.ravel(low)[0]), abs=2e-3)
    assert ours.interval.high == pytest.approx(float(np.ravel(high)[0]), abs=2e-3)
    # Where ours differs on purpose: Student's t (m - 2 degrees of freedom, λ fitted) instead
    # of the normal quantile, plus Hall's skewness term (ppi-python has neither); both fade
    # with 400 gold labels. Without the term the critical value is exactly t.
    plain = ppi_rate(f, gold, skewness_correction=False)
    t_crit = float(sps.t.ppf(0.975, n - 2))
    assert plain.critical_value == pytest.approx(t_crit, abs=1e-12)
    labelled = ~np.isnan(gold)
    term = _skewness_term(gold[labelled] - ours.lam * f[labelled], np.full(n, n / big_n), 0.95)
    assert 0 < term < 0.01 and ours.critical_value == pytest.approx(t_crit + term, abs=1e-12)


def _dataset(rng, size: int, informative: bool):
    truth = (rng.random(size) < 0.3).astype(float)
    if informative:
        return truth, np.clip(0.55 * truth + 0.45 * rng.random(size), 0, 1)
    return truth, rng.random(size)  # a useless cheap judge: scores unrelated to the truth


@pytest.mark.parametrize("informative", [True, False])
@pytest.mark.parametrize("active", [False, True])
def test_simulated_coverage_and_unbiasedness(informative, active):
    rng = np.random.default_rng(11)
    truth, f = _dataset(rng, 400, informative)
    target, n, reps = truth.mean(), 60, 1000
    inclusion = (active_inclusion_probabilities(uncertainty(f), n, 0.2) if active
                 else np.full(truth.size, n / truth.size))
    hits, estimates = 0, []
    for rep in range(reps):
        drawn = pareto_sample(inclusion, n, seed=rep)
        gold = np.full(truth.size, np.nan)
        gold[drawn] = truth[drawn]
        result = ppi_rate(f, gold, inclusion=inclusion if active else None)
        hits += result.interval.low <= target <= result.interval.high
        estimates.append(result.estimate)
    assert 0.925 <= hits / reps <= 0.975
    assert np.mean(estimates) == pytest.approx(target, abs=0.01)


def test_informative_predictions_narrow_the_interval_and_useless_ones_do_not():
    rng = np.random.default_rng(3)
    truth, good = _dataset(rng, 2000, True)
    _, useless = _dataset(rng, 2000, False)
    drawn = rng.choice(2000, 100, replace=False)
    gold = np.full(2000, np.nan)
    gold[drawn] = truth[drawn]
    alone = ppi_rate(good, gold, lam=0.0).interval.width
    assert ppi_rate(good, gold).interval.width < 0.7 * alone
    assert ppi_rate(useless, gold).interval.width == pytest.approx(alone, rel=0.06)
    assert ppi_rate(useless, gold).lam < 0.3


@pytest.mark.parametrize(
    ("predicted", "gold", "inclusion", "message"),
    [
        ([0.1, 0.2, 0.3], [1, 0, NAN], None, "at least 3 gold labels"),
        ([0.1, 0.2, 0.3], [1, 0.5, 0], None, "0 \\(ok\\) or 1 \\(error\\)"),
        ([0.1, 1.2, 0.3], [1, 0, 0], None, "between 0 and 1"),
        ([0.1, NAN, 0.3], [1, 0, 0], None, "between 0 and 1"),
        ([0.1, 0.2], [1, 0, 0], None, "2 predictions for 3 records"),
        ([0.1, 0.2, 0.3], [1, 0, 0], [0.5, 0.0, 1.0], "every record must be drawable"),
        ([0.1, 0.2, 0.3], [1, 0, 0], [0.5, 0.5], "2 inclusion probabilities"),
    ],
)
def test_bad_inputs_are_config_errors(predicted, gold, inclusion, message):
    with pytest.raises(ConfigError, match=message):
        ppi_rate(predicted, gold, inclusion=inclusion)
