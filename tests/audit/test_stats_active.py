"""Active gold samples: inclusion probabilities and the Pareto πps draw."""

from __future__ import annotations

import numpy as np
import pytest

from audit.stats import active_inclusion_probabilities, pareto_sample, uncertainty
from core.errors import ConfigError


def test_uncertainty_peaks_at_one_half():
    assert uncertainty([0.0, 0.5, 1.0, 0.1]).tolist() == pytest.approx([0, 0.5, 0, 0.3])


def test_probabilities_add_up_to_n_favour_uncertain_records_and_keep_a_floor():
    scores = uncertainty(np.linspace(0, 1, 101))
    pi = active_inclusion_probabilities(scores, 20, floor=0.25)
    assert pi.sum() == pytest.approx(20)
    assert pi.min() == pytest.approx(0.25 * 20 / 101)  # the certain ends: the floor only
    assert pi[50] == pi.max() and pi[50] > 3 * pi.min()  # p = 0.5 is drawn most often


def test_probabilities_are_capped_at_one_and_the_rest_redistributed():
    scores = np.array([100.0, 100.0] + [1.0] * 8)
    pi = active_inclusion_probabilities(scores, 5, floor=0.1)
    assert pi[:2].tolist() == [1.0, 1.0]
    assert pi.sum() == pytest.approx(5) and (pi <= 1).all()
    assert pi[2:] == pytest.approx(np.full(8, 3 / 8))


def test_no_information_gives_a_uniform_design():
    assert active_inclusion_probabilities(np.zeros(10), 4).tolist() == pytest.approx([0.4] * 10)


def test_pareto_sample_has_fixed_size_is_seeded_and_honours_the_probabilities():
    pi = active_inclusion_probabilities(uncertainty(np.linspace(0.01, 0.99, 50)), 10, 0.2)
    first = pareto_sample(pi, 10, seed=3)
    assert len(set(first.tolist())) == 10
    assert pareto_sample(pi, 10, seed=3).tolist() == first.tolist()
    counts = np.zeros(50)
    for seed in range(4000):
        counts[pareto_sample(pi, 10, seed)] += 1
    assert np.abs(counts / 4000 - pi).max() < 0.03  # Pareto πps: close to the targets


def test_equal_probabilities_give_a_uniform_sample_without_replacement():
    counts = np.zeros(20)
    for seed in range(3000):
        counts[pareto_sample(np.full(20, 0.25), 5, seed)] += 1
    assert np.abs(counts / 3000 - 0.25).max() < 0.035


def test_certain_records_are_always_drawn():
    pi = np.array([1.0, 0.5, 0.25, 0.25])
    for seed in range(50):
        assert 0 in pareto_sample(pi, 2, seed)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: active_inclusion_probabilities([0.1, 0.2], 3), "between 1 and 2"),
        (lambda: active_inclusion_probabilities([0.1, 0.2], 1, floor=0), "floor should be"),
        (lambda: active_inclusion_probabilities([0.1, -1], 1), "non-negative"),
        (lambda: pareto_sample([0.5, 0.0], 1), "in \\(0, 1\\]"),
        (lambda: pareto_sample([0.5, 0.5], 0), "between 1 and 2"),
    ],
)
def test_bad_inputs(call, message):
    with pytest.raises(ConfigError, match=message):
        call()
