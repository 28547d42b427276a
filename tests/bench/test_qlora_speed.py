"""bench/qlora_speed.py: the loss comparison, the grouped schedule and the speed-up at the cap."""

from __future__ import annotations

import random

import pytest

from bench import qlora_speed as qs


def test_parse_configs_reads_batch_by_seq_and_rejects_garbage():
    assert qs.parse_configs("4x512, 2X2048,") == [(4, 512), (2, 2048)]
    with pytest.raises(SystemExit, match="8x512"):
        qs.parse_configs("8*512")


def test_compare_losses_matches_equal_curves_with_noise_and_flags_a_shifted_one():
    rng = random.Random(0)
    baseline = [10.0 - 0.01 * k + rng.gauss(0, 0.2) for k in range(200)]
    noisy = [v + rng.gauss(0, 0.01) for v in baseline]
    same = qs.compare_losses(baseline, noisy, per_step=8, tolerance=0.02)
    assert same["match"] and same["steps"] == 200 and same["records_seen"] == 1600
    assert same["windows"][-1]["records_seen"] == 1600 and len(same["windows"]) == 10
    shifted = qs.compare_losses(baseline, [v * 1.05 for v in baseline], 8, 0.02)
    assert not shifted["match"] and shifted["worst_window_rel_diff"] == pytest.approx(0.05)
    late = baseline[:100] + [v * 0.9 for v in baseline[100:]]  # diverges after step 100
    assert not qs.compare_losses(baseline, late, 8, 0.02)["match"]
    assert qs.compare_losses(baseline, [], 8, 0.02)["match"] is False


def test_grouped_schedule_warms_up_on_the_longest_batch_and_samples_the_epoch():
    rng = random.Random(1)
    lengths = [rng.randint(40, 512) for _ in range(400)]
    schedule, extra = qs.grouped_schedule(lengths, batch=8, warmup=2, steps=10, seed=3)
    assert len(schedule) == 12 * 8
    batches = [schedule[i:i + 8] for i in range(0, len(schedule), 8)]
    assert max(lengths[i] for i in batches[0]) == max(lengths)  # worst case first
    # grouped: within a batch the lengths are close, far closer than in random batches
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 60
    assert 0.9 < extra["epoch_padding_efficiency"] <= 1.0


def _run(path, batch, seq, tps, peak):
    return {"config": {"path": path, "batch": batch, "seq": seq, "gc": True},
            "tokens_per_s": tps, "peak_gib": peak}


def test_speedups_compare_the_best_configs_under_the_cap_only():
    runs = {
        "baseline b8x512": _run("baseline", 8, 512, 1000.0, 9.0),
        "baseline b16x512": _run("baseline", 16, 512, 1500.0, 12.0),
        "baseline b32x512 no-gc": _run("baseline", 32, 512, 9000.0, 60.0),  # over the cap
        "baseline b64x512": {"config": {"path": "baseline", "batch": 64, "seq": 512, "gc": True},
                             "oom": True, "error": "OutOfMemoryError", "peak_gib": 79.0},
        "assay m32x512": _run("assay", 32, 512, 3600.0, 10.0),
        "assay m4x2048": _run("assay", 4, 2048, 2000.0, 7.0),
    }
    found = qs.speedups(runs, [512, 2048])
    assert found["seq512"]["best_baseline"] == "baseline b16x512"
    assert found["seq512"]["speedup"] == 2.4 and found["seq512"]["met"]
    assert "seq2048" not in found  # no baseline measured there
