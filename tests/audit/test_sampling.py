from collections import Counter

import pytest

from audit.sampling import sample_records
from core.errors import ConfigError
from core.models import QARecord


def records(n: int) -> list[QARecord]:
    topics = ["visa", "work", "fees", "housing"]
    return [QARecord(id=f"r{i}", question=f"q{i}", answer=f"a{i}", topic=topics[i % 7 % 4])
            for i in range(n)]


def test_same_seed_same_sample_without_replacement():
    data = records(200)
    first = sample_records(data, 40, seed=7)
    assert [r.id for r in first] == [r.id for r in sample_records(data, 40, seed=7)]
    assert len({r.id for r in first}) == 40
    assert [r.id for r in first] != [r.id for r in sample_records(data, 40, seed=8)]


def test_stratified_sample_is_proportional():
    data = records(200)
    sample = sample_records(data, 40, seed=1, stratify="topic")
    population = Counter(r.topic for r in data)
    got = Counter(r.topic for r in sample)
    assert sum(got.values()) == 40
    for topic, size in population.items():
        assert abs(got[topic] - 40 * size / 200) < 1


def test_bad_sizes_and_fields():
    with pytest.raises(ConfigError, match="at least 1, got 0"):
        sample_records(records(5), 0)
    assert len(sample_records(records(5), 10)) == 5
    with pytest.raises(ConfigError, match="cannot stratify"):
        sample_records(records(5), 2, stratify="colour")
