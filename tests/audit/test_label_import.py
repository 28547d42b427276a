"""`audit import-labels`: gold labels from CSV/JSONL, every bad row named, nothing stored from a
bad file; the imported judge scored against the others in every report format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO

import numpy as np
import pytest
from example_runs import write_truth_labels
from rich.console import Console

from audit.label_import import import_labels
from audit.report_data import build_report
from core.errors import ConfigError, DatasetError
from core.models import Label, Severity
from reports.export import to_json, to_markdown
from reports.html import to_html
from reports.terminal import gold_table


def sampled(store, run_id):
    return [r["id"] for r in store.run_records(run_id)]


def test_imports_csv_and_jsonl_as_a_human_judge(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    ids = sampled(store, example_runs.sample)
    path = write_truth_labels(tmp_path / "labels.csv", example_runs.truth, ids)
    outcome = import_labels(store, path, "truth", example_runs.sample)
    errors = sum(example_runs.truth[i]["label"] == "error" for i in ids)
    assert (outcome.imported, outcome.errors, outcome.replaced) == (40, errors, 0)
    stored = {j.record_id: j for j in store.judgments(example_runs.sample) if j.judge == "truth"}
    assert set(stored) == set(ids)
    for rid, judgment in stored.items():
        row = example_runs.truth[rid]
        assert judgment.verdict.is_error == (row["label"] == "error")
        if row["label"] == "error":
            assert judgment.verdict.severity is Severity(row["severity"] or "major")
            assert judgment.verdict.rationale == row["note"]
        else:
            assert judgment.verdict.label is Label.supported
    again = import_labels(store, write_truth_labels(tmp_path / "labels.jsonl",
                                                     example_runs.truth, ids[:5]),
                          "truth", example_runs.sample)
    assert (again.imported, again.replaced) == (5, 5)


def test_confusion_matrix_of_a_judge_against_imported_labels(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    ids = sampled(store, example_runs.sample)
    import_labels(store, write_truth_labels(tmp_path / "l.jsonl", example_runs.truth, ids),
                  "truth", example_runs.sample)
    report = build_report(store, example_runs.sample, bootstrap=200)
    assert report.gold is not None and report.gold.gold_judge == "truth"  # found by itself
    # By hand from the stored rules verdicts and the answer key.
    table = np.zeros((2, 2), dtype=int)
    for judgment in store.judgments(example_runs.sample):
        if judgment.judge == "rules" and judgment.decided:
            gold = example_runs.truth[judgment.record_id]["label"] == "error"
            table[int(gold), int(judgment.verdict.is_error)] += 1
    rules = next(row.scores for row in report.gold.judges if row.judge == "rules")
    assert rules.confusion == table.tolist()
    assert table.sum() >= 15 and table[1, 1] > 0  # the rules judge decided and caught some
    (tn, fp), (fn, tp) = table.tolist()
    assert (rules.sensitivity.k, rules.sensitivity.n) == (tp, tp + fn)
    assert (rules.specificity.k, rules.specificity.n) == (tn, tn + fp)
    assert rules.kappa.ci is not None
    assert report.gold.gold_labels == 40
    exported = json.loads(to_json(report))["gold"]
    assert exported["judges"][0]["scores"]["confusion"] == table.tolist()
    html = to_html(report)
    assert 'id="gold-table"' in html and "Judges against gold labels from &#x27;truth&#x27;" in html
    assert f"{tp} / {fn}" in to_markdown(report)
    # At 80 columns the terminal folds the intervals onto more lines instead of cutting them.
    console = Console(file=StringIO(), width=80, force_terminal=False, color_system=None)
    console.print(gold_table(report, plain=True))
    assert "…" not in console.file.getvalue()


def test_a_named_gold_judge_and_runs_without_one(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    assert build_report(store, example_runs.sample, bootstrap=0).gold is None
    with pytest.raises(ConfigError, match="no judge 'gpt'"):
        build_report(store, example_runs.sample, bootstrap=0, gold_judge="gpt")


def _bad(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# Each file has good rows and one bad row (on line 3): one problem line, naming that line.
BAD_ROWS = [
    ("label.csv", "id,label\n{a},error\n{b},maybe\n", "label 'maybe' is not error or ok"),
    ("unknown.csv", "id,label\n{a},error\nadv-9999,ok\n", "record 'adv-9999' is not in this run"),
    ("severity.csv", "id,label,severity\n{a},error,major\n{b},error,huge\n",
     "severity 'huge' is not one of none, minor, major, critical"),
    ("category.csv", "id,label,category\n{a},error,\n{b},error,typo\n", "category 'typo' is not"),
    ("ok_severity.csv", "id,label,severity\n{a},ok,\n{b},ok,major\n",
     "an ok label cannot carry an error severity"),
    ("none.csv", "id,label,severity\n{a},ok,\n{b},error,none\n", "needs a severity other than none"),
    ("twice.csv", "id,label\n{a},ok\n{a},error\n", "labelled again (first on line 2)"),
    ("no_id.csv", "id,label\n{a},ok\n,error\n", "no record id"),
    ("json.jsonl", '{{"id": "{a}", "label": "ok"}}\n\n{{"id": "{b}", "label": \n',
     "not valid JSON"),
    ("array.jsonl", '{{"id": "{a}", "label": "ok"}}\n\n["{b}", "ok"]\n', "expected an object"),
    ("nolabel.jsonl", '{{"id": "{a}", "label": "ok"}}\n\n{{"id": "{b}"}}\n', "'(empty)' is not error"),
]


@pytest.mark.parametrize(("name", "text", "problem"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_a_bad_row_is_named_on_its_own_line_and_nothing_is_stored(example_runs, tmp_path, name,
                                                                   text, problem):
    store = example_runs.store(tmp_path)
    a, b = sampled(store, example_runs.sample)[:2]
    path = _bad(tmp_path, name, text.format(a=a, b=b))
    with pytest.raises(DatasetError) as caught:
        import_labels(store, path, "truth", example_runs.sample)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: 1 bad row(s), nothing was imported:"
    assert len(lines) == 2 and lines[1].strip().startswith(f"{path}:3: ") and problem in lines[1]
    assert not [j for j in store.judgments(example_runs.sample) if j.judge == "truth"]


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("header.csv", "record,verdict\nx,ok\n", "the header must name the columns id and label"),
        ("labels.txt", "id,label\n", "must be a .csv or .jsonl file"),
        ("empty.jsonl", "\n\n", "no labels in the file"),
    ],
)
def test_bad_files(example_runs, tmp_path, name, text, problem):
    store = example_runs.store(tmp_path)
    with pytest.raises(DatasetError, match=problem):
        import_labels(store, _bad(tmp_path, name, text), "truth", example_runs.sample)
    with pytest.raises(DatasetError, match="cannot read the labels"):
        import_labels(store, tmp_path / "missing.csv", "truth", example_runs.sample)


def test_a_panel_judge_name_is_refused(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    path = write_truth_labels(tmp_path / "l.csv", example_runs.truth, sampled(store, example_runs.sample))
    with pytest.raises(ConfigError, match="'rules' is a judge of run .* panel"):
        import_labels(store, path, "rules", example_runs.sample)


def test_cli_lists_every_bad_row_and_exits_2(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    a, b = sampled(store, example_runs.sample)[:2]
    bad = _bad(tmp_path, "bad.csv", f"id,label\n{a},maybe\nnope,ok\n{b},error\n")
    cli = [sys.executable, "-m", "audit", "import-labels", "--db", str(store.path), "--run",
           example_runs.sample, "--name", "truth"]
    done = subprocess.run([*cli, str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert "2 bad row(s), nothing was imported" in lines[0]
    assert [line.split(": ")[0].strip() for line in lines[1:]] == [f"{bad}:2", f"{bad}:3"]
    good = write_truth_labels(tmp_path / "good.csv", example_runs.truth, [a, b])
    done = subprocess.run([*cli, str(good)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 2 labels" in done.stdout


def test_reports_show_scores_judges_against_a_named_gold_judge(example_runs, tmp_path):
    store = example_runs.store(tmp_path)
    ids = sampled(store, example_runs.sample)
    import_labels(store, write_truth_labels(tmp_path / "l.csv", example_runs.truth, ids),
                  "truth", example_runs.sample)
    show = [sys.executable, "-m", "reports", "show", example_runs.sample, "--db", str(store.path)]
    done = subprocess.run([*show, "--gold", "rules"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "Judges against gold labels from 'rules'" in done.stdout
    unknown = subprocess.run([*show, "--gold", "gpt"], capture_output=True, text=True, cwd=tmp_path)
    assert unknown.returncode == 2 and "no judge 'gpt'" in unknown.stderr
