"""`audit estimate`, `audit sample --active` and the gate's rate_source = "ppi", on real
rules-judge runs of the bundled example with its answer key imported as gold labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from example_runs import write_truth_labels

from audit.active_sample import audit_active_sample
from audit.estimate import estimate_error_rate
from audit.gate import GatePolicy, evaluate_gate
from audit.label_import import import_labels
from audit.predictions import verdict_p_error
from audit.sample import SampleOptions
from audit.stats import error_rate, ppi_rate
from core.errors import ConfigError
from core.runs import open_run


def with_gold(example_runs, tmp_path, run_id=None, ids=None):
    store = example_runs.store(tmp_path)
    run_id = run_id or example_runs.sample
    ids = ids if ids is not None else [r["id"] for r in store.run_records(run_id)]
    import_labels(store, write_truth_labels(tmp_path / "gold.jsonl", example_runs.truth, ids),
                  "truth", run_id)
    return store


def expected_arrays(store, example_runs, labelled):
    """By hand: the rules judge's P(error) on every record, the answer key where labelled."""
    records = [r["id"] for r in store.run_records(example_runs.cheap)]
    p = {j.record_id: verdict_p_error(j.verdict) for j in store.judgments(example_runs.cheap)
         if j.judge == "rules" and j.decided}
    predicted = np.array([p.get(rid, 0.5) for rid in records])
    gold = np.array([float(example_runs.truth[rid]["label"] == "error") if rid in labelled
                     else np.nan for rid in records])
    return records, predicted, gold


def test_estimate_is_ppi_over_the_cheap_run_corrected_by_the_gold_sample(example_runs, tmp_path):
    store = with_gold(example_runs, tmp_path)
    labelled = {r["id"] for r in store.run_records(example_runs.sample)}
    report = estimate_error_rate(store, example_runs.sample, by="topic")
    assert (report.cheap_run_id, report.gold_judge, report.panel) == (
        example_runs.cheap, "truth", ["rules"])
    assert (report.population, report.sampled, report.gold_labels, report.design) == (
        231, 40, 40, "uniform")
    records, predicted, gold = expected_arrays(store, example_runs, labelled)
    inclusive = report.overall.inclusive
    assert inclusive.ppi == ppi_rate(predicted, gold)
    errors = int(np.nansum(gold))
    wilson = error_rate(errors, 40, population=231).wilson
    assert (inclusive.gold_only.low, inclusive.gold_only.high) == (wilson.low, wilson.high)
    assert inclusive.gold_only.method == "Wilson with finite-population correction"
    assert inclusive.cheap_rate == pytest.approx(predicted.mean())
    assert inclusive.width_ratio == pytest.approx(inclusive.ppi.interval.width / wilson.width)
    assert "narrower" in inclusive.why or "wide" in inclusive.why
    assert report.no_cheap_verdict == int(sum(1 for rid in records if predicted[
        records.index(rid)] == 0.5)) and any("no cheap verdict" in n for n in report.notes)
    assert sum(s.population for s in report.strata) == 231
    assert sum(s.gold_labels for s in report.strata) == 40
    small = [s for s in report.strata if s.gold_labels < 10]
    assert small and all(s.inclusive.ppi is None for s in small)  # too few for an interval
    few_note = [n for n in report.notes if "needs at least 10 gold labels" in n]  # says why n/a
    assert len(few_note) == 1 and all(f"{s.stratum} ({s.gold_labels})" in few_note[0] for s in small)
    assert report.overall.hard.ppi is not None


def test_consensus_labels_as_the_prediction(example_runs, tmp_path):
    store = with_gold(example_runs, tmp_path)
    report = estimate_error_rate(store, prediction="consensus")
    assert report.gold_run_id == example_runs.sample  # the latest run holds the gold labels
    ppi = report.overall.inclusive.ppi
    assert ppi is not None and 0 < ppi.estimate < 1
    assert any("majority label as the prediction" in note for note in report.notes)
    with pytest.raises(ConfigError, match="prediction must be one of"):
        estimate_error_rate(store, prediction="vibes")


def test_gold_labels_inside_the_cheap_run(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    ids = [r["id"] for r in store.run_records(example_runs.cheap)][::5]  # 47 of 231
    store = with_gold(example_runs, tmp_path, example_runs.cheap, ids)
    report = estimate_error_rate(store, example_runs.cheap)
    assert (report.cheap_run_id, report.gold_labels) == (example_runs.cheap, 47)
    assert any("in the cheap run itself" in note for note in report.notes)
    _, predicted, gold = expected_arrays(store, example_runs, set(ids))
    assert report.overall.inclusive.ppi == ppi_rate(predicted, gold)


def test_estimate_errors_say_what_to_do(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    with pytest.raises(ConfigError, match="has no gold labels: review it"):
        estimate_error_rate(store, example_runs.sample)
    store = with_gold(example_runs, tmp_path)
    with pytest.raises(ConfigError, match="did not judge every record"):
        estimate_error_rate(store, example_runs.sample, cheap_run_id=example_runs.sample)
    with pytest.raises(ConfigError, match="no judge 'gpt'"):
        estimate_error_rate(store, example_runs.sample, gold_judge="gpt")
    with pytest.raises(ConfigError, match="only break the estimate down by topic"):
        estimate_error_rate(store, by="judge")


def test_gold_labels_all_the_same_give_no_zero_width_interval(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    ok = [r["id"] for r in store.run_records(example_runs.sample)
          if example_runs.truth[r["id"]]["label"] != "error"]
    assert len(ok) >= 10
    store = with_gold(example_runs, tmp_path, ids=ok)
    report = estimate_error_rate(store, example_runs.sample)
    inclusive = report.overall.inclusive
    assert inclusive.ppi is None  # it was 0.0% [0.0%, 0.0%]: "100% narrower"
    assert f"the {len(ok)} gold labels are all ok" in inclusive.why
    assert inclusive.gold_only is not None and inclusive.gold_only.high > 0.05
    decision = evaluate_gate(store, example_runs.sample, policy=GatePolicy(
        rate_source="ppi", max_error_rate=0.01, max_critical_errors=1000))
    assert decision.status != "pass"  # on the gold labels' own interval, not a zero-width one
    reason = next(r for r in decision.reasons if "alone" in r)
    assert f"by the {len(ok)} gold labels from 'truth' alone" in reason
    assert f"[0.0%, {inclusive.gold_only.high:.1%}]" in reason


def test_active_sample_records_its_probabilities_and_is_weighted(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    options = SampleOptions(n=40, judges_file=example_runs.judges)
    outcome = audit_active_sample(store, options, example_runs.cheap, floor=0.3)
    assert outcome.run_id not in (example_runs.sample, example_runs.cheap)
    inclusion = store.inclusion(outcome.run_id)
    assert len(inclusion) == 231 and sum(inclusion.values()) == pytest.approx(40)
    assert min(inclusion.values()) >= 0.3 * 40 / 231 - 1e-12
    assert max(inclusion.values()) > 1.3 * min(inclusion.values())  # not a uniform design
    ids = [r["id"] for r in store.run_records(outcome.run_id)]
    assert len(set(ids)) == 40
    sampling = open_run(store, outcome.run_id).audit.sampling
    assert sampling is not None and sampling.cheap_run == example_runs.cheap
    again = audit_active_sample(store, options, example_runs.cheap, floor=0.3)
    assert (again.run_id, again.new_judgments) == (outcome.run_id, 0)
    assert [r["id"] for r in store.run_records(outcome.run_id)] == ids  # resumed, not redrawn

    import_labels(store, write_truth_labels(tmp_path / "g.csv", example_runs.truth, ids),
                  "truth", outcome.run_id)
    report = estimate_error_rate(store, outcome.run_id)
    assert report.design == "active" and report.cheap_run_id == example_runs.cheap
    _, predicted, gold = expected_arrays(store, example_runs, set(ids))
    records = [r["id"] for r in store.run_records(example_runs.cheap)]
    pi = np.array([inclusion[rid] for rid in records])
    assert report.overall.inclusive.ppi == ppi_rate(predicted, gold, inclusion=pi)
    assert report.overall.inclusive.gold_only.method.startswith("inverse-probability weighted")
    # The gate never passes (or fails) the data on an active sample's own, unweighted rate.
    lenient = dict(max_critical_errors=1000, min_alpha=-1, min_sample=1)
    for max_rate in (0.99, 0.01):
        own = evaluate_gate(store, outcome.run_id, policy=GatePolicy(max_error_rate=max_rate,
                                                                     **lenient))
        assert own.status == "inconclusive" and any("drawn actively" in r for r in own.reasons)
    weighted = evaluate_gate(store, outcome.run_id, policy=GatePolicy(
        rate_source="ppi", max_error_rate=0.99, **lenient))
    assert weighted.status == "pass"
    # Every report of it says its rates are the sample's own; a uniform sample's does not.
    import io

    from rich.console import Console

    from audit.report_data import build_report
    from reports.export import to_markdown
    from reports.html import to_html
    from reports.terminal import render_report

    for run_id, active in ((outcome.run_id, True), (example_runs.sample, False)):
        report = build_report(store, run_id)
        assert (report.run.active_sample is not None) is active
        terminal = io.StringIO()
        render_report(report, Console(file=terminal, width=200))
        for text in (terminal.getvalue(), to_markdown(report), to_html(report)):
            assert ("ACTIVE SAMPLE: these rates" in text and "own, unweighted" in text) is active
            assert (f"cheap run {example_runs.cheap} is unsure about" in text) is active


def test_active_sample_needs_a_run_over_every_record(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    options = SampleOptions(n=10, judges_file=example_runs.judges)
    with pytest.raises(ConfigError, match="did not judge every record"):
        audit_active_sample(store, options, example_runs.sample)
    with pytest.raises(ConfigError, match="cannot be combined"):
        audit_active_sample(store, SampleOptions(n=10, stratify="topic"), example_runs.cheap)


def test_gate_on_the_ppi_interval(example_runs, tmp_path):
    store = with_gold(example_runs, tmp_path)
    policy = GatePolicy(rate_source="ppi", max_error_rate=0.9, max_critical_errors=1000,
                        min_alpha=-1)
    decision = evaluate_gate(store, example_runs.sample, policy=policy)
    ppi = estimate_error_rate(store, example_runs.sample).overall.inclusive.ppi
    assert decision.status == "pass"
    reason = decision.reasons[0]
    assert "by PPI over 231 records (40 gold labels from 'truth'" in reason
    assert f"[{ppi.interval.low:.1%}, {ppi.interval.high:.1%}]" in reason
    strict = evaluate_gate(store, example_runs.sample,
                           policy=GatePolicy(rate_source="ppi", max_error_rate=0.05))
    assert strict.status == "fail"
    assert any("by PPI" in r and "upper bound above the maximum 5.0%" in r for r in strict.reasons)
    (tmp_path / "bare").mkdir()
    bare = example_runs.store(tmp_path / "bare")
    with pytest.raises(ConfigError, match="no gold labels.*in a gate policy: gold_judge"):
        evaluate_gate(bare, example_runs.sample, policy=policy)
    (tmp_path / "few").mkdir()
    few = with_gold(example_runs, tmp_path / "few",
                    ids=[r["id"] for r in store.run_records(example_runs.sample)][:5])
    # too few gold labels: the rate cannot be estimated, so the gate cannot vouch (exit 3)
    undecided = evaluate_gate(few, example_runs.sample, policy=policy)
    assert undecided.status == "inconclusive"
    assert any("needs at least 10 gold labels" in r and "got 5" in r
               for r in undecided.reasons), undecided.reasons
    assert not any("upper bound" in r for r in undecided.reasons)


def test_cli_estimate_json_and_text(example_runs, tmp_path):
    store = with_gold(example_runs, tmp_path)
    base = [sys.executable, "-m", "audit"]
    done = subprocess.run([*base, "estimate", "--json", "--db", str(store.path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["gold_judge"] == "truth" and data["overall"]["inclusive"]["ppi"]["n_gold"] == 40
    text = subprocess.run([*base, "estimate", "--by", "topic", "--db", str(store.path)],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "200"})
    assert text.returncode == 0, text.stderr
    assert "Error rate of the whole dataset (PPI++)" in text.stdout
    assert "work_authorisation (31)" in text.stdout
    usage = subprocess.run([*base, "sample", "--cheap", example_runs.cheap, "--db",
                            str(store.path)], capture_output=True, text=True, cwd=tmp_path)
    assert usage.returncode == 2 and "--cheap only goes with --active" in usage.stderr


def test_cli_gate_reads_rate_source_from_the_policy_file(example_runs, tmp_path):
    store = with_gold(example_runs, tmp_path)
    policy = tmp_path / "ppi.toml"
    policy.write_text('[gate]\nrate_source = "ppi"\ngold_judge = "truth"\nmax_error_rate = 0.05\n')
    done = subprocess.run([sys.executable, "-m", "audit", "gate", example_runs.sample, "--json",
                           "--policy", str(policy), "--cheap", example_runs.cheap, "--db",
                           str(store.path)], capture_output=True, text=True, cwd=tmp_path)
    decision = json.loads(done.stdout)
    assert done.returncode == 1 and decision["policy"]["rate_source"] == "ppi"
    assert any("by PPI over 231 records" in reason for reason in decision["reasons"])
    policy.write_text('[gate]\nrate_source = "oracle"\n')
    bad = subprocess.run([sys.executable, "-m", "audit", "gate", "--policy", str(policy), "--db",
                          str(store.path)], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "'sample' or 'ppi', got 'oracle'" in bad.stderr
    ignored = subprocess.run([sys.executable, "-m", "audit", "gate", example_runs.sample,
                              "--cheap", example_runs.cheap, "--db", str(store.path)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert ignored.returncode == 2 and "--cheap only goes with rate_source" in ignored.stderr


def test_unverifiable_is_not_an_error_in_an_open_world_run():
    """In a run whose sources are not declared complete, `not_in_sources` (gold or panel) is
    unverifiable: neither the gold labels nor the cheap panel's predictions count it as an
    error; in a closed-world run both do."""
    from audit.gold import label_vector
    from audit.predictions import panel_predictions
    from core.models import Judgment, JudgmentStatus, Label, Verdict

    def judged(record, judge, label, confidence=0.9):
        return Judgment(run_id="r", record_id=record, judge=judge, status=JudgmentStatus.ok,
                        verdict=Verdict(label=label, confidence=confidence))

    judgments = [judged("a", "gold", Label.contradicted), judged("b", "gold", Label.not_in_sources),
                 judged("c", "gold", Label.supported), judged("a", "cheap", Label.contradicted),
                 judged("b", "cheap", Label.not_in_sources), judged("c", "cheap", Label.supported)]
    ids = ["a", "b", "c"]
    assert label_vector(judgments, ids, "gold", closed_world=False).tolist() == [1.0, 0.0, 0.0]
    assert label_vector(judgments, ids, "gold", closed_world=True).tolist() == [1.0, 1.0, 0.0]
    open_world = panel_predictions(judgments, ids, ["cheap"], closed_world=False).inclusive
    closed = panel_predictions(judgments, ids, ["cheap"], closed_world=True).inclusive
    assert open_world.round(2).tolist() == [0.9, 0.0, 0.1]
    assert closed.round(2).tolist() == [0.9, 0.9, 0.1]
    consensus = panel_predictions(judgments, ids, ["cheap"], kind="consensus", closed_world=False)
    assert consensus.inclusive.tolist() == [1.0, 0.0, 0.0]
