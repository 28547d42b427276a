"""bench/qlora_compare.py: issue 20's side by side (schedules, summaries, ratios, the worker)."""

from __future__ import annotations

import argparse
import json
import random

import pytest

from bench import qlora_compare as qc
from bench import qlora_speed as qs


def test_contenders_read_each_kind_and_defaults_take_a_seq():
    args = argparse.Namespace(plain="8x512", switches="32x512,64x512", assay_tuned="",
                              unsloth="16x512", assay_defaults="512")
    found = qc.contenders(args, qs.parse_configs)
    assert [c.key for c in found] == [
        "(a) plain b8x512", "(b) switches b32x512", "(b) switches b64x512",
        "(c) unsloth b16x512", "assay defaults 16x512 per step"]
    with pytest.raises(SystemExit, match="SEQ"):
        qc.contenders(argparse.Namespace(plain="", switches="", assay_tuned="", unsloth="",
                                         assay_defaults="4x512"), qs.parse_configs)


def test_flat_schedule_warms_up_on_the_heaviest_batch_and_keeps_batches_whole():
    rng = random.Random(2)
    lengths = [rng.randint(40, 512) for _ in range(400)]
    schedule, extra = qc.flat_schedule(lengths, batch=16, warmup=2, steps=20, seed=5)
    assert len(schedule) == 22 * 16
    batches = [schedule[i:i + 16] for i in range(0, len(schedule), 16)]
    tokens = [sum(lengths[i] for i in b) for b in batches]
    assert tokens[0] == extra["epoch_max_batch_tokens"] == max(tokens)
    assert len(set(map(tuple, batches[2:]))) == 20  # measured: distinct batches of the epoch
    assert qc.flat_schedule(lengths, 16, 2, 20, 5) == (schedule, extra)  # same every repeat


def _run(tps, peak, **extra):
    return {"tokens_per_s": tps, "peak_gib": peak, "reserved_gib": peak + 1} | extra


def test_summarize_runs_gives_median_spread_and_the_cap_over_every_run():
    s = qc.summarize_runs([_run(100.0, 10.0), _run(130.0, 11.0), _run(90.0, 10.5)], 14.5)
    assert (s["tokens_per_s_median"], s["tokens_per_s_min"], s["tokens_per_s_max"]) == (
        100.0, 90.0, 130.0)
    assert s["runs"] == 3 and s["peak_gib"] == 11.0 and s["under_cap"]
    over = qc.summarize_runs([_run(100.0, 10.0), _run(120.0, 15.0)], 14.5)
    assert not over["under_cap"] and over["peak_gib"] == 15.0
    failed = qc.summarize_runs([{"error": "unsloth not importable: x"}], 14.5)
    assert failed["runs"] == 0 and failed["tokens_per_s_median"] is None
    assert failed["errors"] == ["unsloth not importable: x"] and not failed["under_cap"]


def test_ratios_are_to_the_best_b_and_c_under_the_cap_at_the_same_seq():
    def entry(kind, batch, runs):
        return {"config": {"kind": kind, "batch": batch, "seq": 512},
                "runs": runs, "summary": qc.summarize_runs(runs, 14.5)}

    configs = {
        "(b) switches b32x512": entry("switches", 32, [_run(2000.0, 12.0)] * 3),
        "(b) switches b64x512": entry("switches", 64, [_run(3000.0, 16.0)] * 3),  # over
        "(c) unsloth b16x512": entry("unsloth", 16, [_run(8000.0, 7.0)] * 3),
        "assay tuned m32x512": entry("assay", 32, [_run(4000.0, 11.0)] * 3),
    }
    best = qc.add_ratios(configs)
    assert best["seq512"]["switches"] == "(b) switches b32x512"
    assert best["seq512"]["plain"] is None
    assay = configs["assay tuned m32x512"]["summary"]
    assert (assay["vs_b"], assay["vs_c"]) == (2.0, 0.5)
    text = qc.table(configs, best)
    assert "*assay tuned m32x512" in text and " (b) switches b64x512" in text
    assert "4,000 [4,000-4,000]" in text


def test_the_worker_records_a_clean_error_where_unsloth_cannot_be_imported(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "unsloth", None)  # import raises
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"result": str(tmp_path / "result.json")}))
    assert qc.worker(str(spec)) == 0
    run = json.loads((tmp_path / "result.json").read_text())
    assert run["error"].startswith("unsloth not importable: ")


def test_resume_keeps_measured_runs_and_runs_only_what_is_missing(monkeypatch):
    """A second call (--resume) after a time limit or a failed import: measured runs stay and
    count, skipped and failed ones run again, and every summary covers the kept runs."""
    calls = []

    def fake_run_one(c, *rest):
        calls.append(c.key)
        return _run(1000.0 + len(calls), 9.0)

    monkeypatch.setattr(qc, "run_one", fake_run_one)
    args = argparse.Namespace(plain="8x512", switches="32x512", assay_tuned="", unsloth="32x512",
                              assay_defaults="", repeats=3, unsloth_dropout=0.0,
                              time_limit=1e9)
    earlier = {"invocations": 1, "configs": {
        "(a) plain b8x512": {"runs": [_run(2000.0, 8.0), _run(3000.0, 8.5),
                                      {"skipped": "time limit"}]},
        "(b) switches b32x512": {"runs": [_run(4000.0, 13.0)] * 3},
        "(c) unsloth b32x512": {"runs": [{"error": "unsloth not importable"}]}}}
    results: dict = {}
    qc.run_compare(args, qs, results, {512: None}, None, None, None, None, started=0.0,
                   save=lambda: None, earlier=earlier)
    assert sorted(calls) == ["(a) plain b8x512"] + ["(c) unsloth b32x512"] * 3
    configs = results["compare"]["configs"]
    assert results["compare"]["invocations"] == 2
    assert configs["(b) switches b32x512"]["summary"]["runs"] == 3
    assert configs["(b) switches b32x512"]["summary"]["tokens_per_s_median"] == 4000.0
    assert configs["(a) plain b8x512"]["summary"]["runs"] == 3
    assert configs["(c) unsloth b32x512"]["summary"]["runs"] == 3
    assert "errors" not in configs["(c) unsloth b32x512"]["summary"]
    assert configs["(c) unsloth b32x512"]["summary"]["vs_b"] < 1
