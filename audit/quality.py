"""Judge quality against public truth labels: labelled sets → Assay inputs → metrics.

A *labelled answer* is one answer to one question with its knowledge text and a truth label
(correct or error). Supported sets (read from their published files, never edited):

- HaluEval QA (``knowledge``, ``question``, ``right_answer``, ``hallucinated_answer``): each
  item gives two labelled answers, right → correct, hallucinated → error;
- FaithDial audit labels (``source_text``, ``question``, ``answer``, ``is_hallucinated``):
  rows whose ``is_hallucinated`` is null (generic / uncooperative replies) are left out; the
  *item* is the knowledge text, so answers on the same knowledge stay on one side of a split.

Splits are fixed, so nothing tuned on the development slice is ever reported. For HaluEval
the development slice is the items with an even id number, the same slice the local judge's
calibration is fitted on (bench/calibrate_local_judge.py); the reporting slice is the odd
ones. Other sets split on the parity of the SHA-256 of the item id.

``write_assay_inputs`` writes one source document per item (``<item>.md``, so its passage is
``<item>#0``) and a dataset JSONL whose records cite their own passage; record ids are
neutral (``<item>.1`` / ``<item>.2``, assigned by a seeded coin) so they never reveal the
truth to a judge. The metrics treat "error" as the positive class.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DatasetError
from core.models import Judgment, JudgmentStatus, Label, Verdict

DEV, REPORT = "dev", "report"
_HALUEVAL_ID = re.compile(r"^halueval-qa-(\d+)$")
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class LabelledAnswer:
    """One answer with its knowledge text and its truth (``error`` True = hallucinated)."""

    item_id: str
    question: str
    answer: str
    knowledge: str
    error: bool
    origin: str  # where it came from: the field or row it was read from


def split_of(item_id: str) -> str:
    """``"dev"`` or ``"report"``: HaluEval by id-number parity, anything else by hash parity."""
    match = _HALUEVAL_ID.match(item_id)
    if match:
        return DEV if int(match.group(1)) % 2 == 0 else REPORT
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return DEV if digest[0] % 2 == 0 else REPORT


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the labelled set ({exc.strerror or exc})") from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return rows


def halueval_answers(rows: list[dict[str, Any]]) -> list[LabelledAnswer]:
    """Two labelled answers per HaluEval QA item (right → correct, hallucinated → error)."""
    out = []
    for row in rows:
        for name, error in (("right_answer", False), ("hallucinated_answer", True)):
            out.append(LabelledAnswer(row["id"], row["question"], row[name], row["knowledge"],
                                      error, name))
    return out


def faithdial_answers(rows: list[dict[str, Any]]) -> list[LabelledAnswer]:
    """FaithDial rows with a truth label; the item is the knowledge text."""
    out = []
    for row in rows:
        if row.get("is_hallucinated") is None or not str(row.get("answer", "")).strip():
            continue
        item = "faithdial-" + hashlib.sha256(row["source_text"].encode("utf-8")).hexdigest()[:12]
        question = str(row.get("question") or "").strip() or "(the conversation starts here)"
        out.append(LabelledAnswer(item, question, row["answer"], row["source_text"],
                                  bool(row["is_hallucinated"]), str(row["id"])))
    return out


def load_labelled(path: str | Path) -> list[LabelledAnswer]:
    """Labelled answers from a HaluEval QA or FaithDial JSONL file, or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if len(files) != 1:
            raise DatasetError(f"{path}: expected one .jsonl file in the folder, found "
                               f"{len(files)}; pass the file itself")
        path = files[0]
    rows = _read_jsonl(path)
    if not rows:
        raise DatasetError(f"{path}: no rows")
    if {"knowledge", "right_answer", "hallucinated_answer"} <= rows[0].keys():
        return halueval_answers(rows)
    if {"source_text", "answer", "is_hallucinated"} <= rows[0].keys():
        return faithdial_answers(rows)
    raise DatasetError(
        f"{path}: unknown labelled format (fields {sorted(rows[0])}); expected HaluEval QA "
        "(knowledge, right_answer, hallucinated_answer) or FaithDial (source_text, answer, "
        "is_hallucinated)"
    )


@dataclass
class BalancedSample:
    answers: list[LabelledAnswer]
    pairing: str
    requested: int
    note: str = ""


def balanced_sample(
    answers: Sequence[LabelledAnswer], n: int, seed: int, *, split: str = REPORT,
    pairing: str = "both",
) -> BalancedSample:
    """``n`` answers from ``split``, half correct and half error, chosen with ``seed``.

    ``pairing="both"``: n/2 items, each giving one correct and one error answer (each item
    is its own control). ``pairing="one"``: n/2 correct and n/2 error answers from n distinct
    items (independent records). Asking for more than the split holds takes all it holds.
    """
    if pairing not in ("both", "one"):
        raise DatasetError(f"pairing must be 'both' or 'one', got {pairing!r}")
    by_item: dict[str, dict[bool, list[LabelledAnswer]]] = {}
    for answer in answers:
        if split_of(answer.item_id) == split:
            by_item.setdefault(answer.item_id, {True: [], False: []})[answer.error].append(answer)
    rng = random.Random(seed)
    items = sorted(by_item)
    rng.shuffle(items)
    half = max(1, n // 2)
    chosen: list[LabelledAnswer] = []
    if pairing == "both":
        usable = [i for i in items if by_item[i][True] and by_item[i][False]]
        for item in usable[:half]:
            chosen += [rng.choice(by_item[item][False]), rng.choice(by_item[item][True])]
    else:
        wanted = {False: half, True: half}
        for item in items:
            options = [e for e in (False, True) if wanted[e] and by_item[item][e]]
            if options:
                kind = rng.choice(options)
                wanted[kind] -= 1
                chosen.append(rng.choice(by_item[item][kind]))
        # Keep the two classes the same size even when one of them ran out.
        size = min(sum(a.error for a in chosen), sum(not a.error for a in chosen))
        chosen = [a for a in chosen if a.error][:size] + [a for a in chosen if not a.error][:size]
    note = "" if len(chosen) >= 2 * half else (
        f"asked for {n} records; the {split} slice gives {len(chosen)} with pairing={pairing}")
    rng.shuffle(chosen)
    return BalancedSample(chosen, pairing, n, note)


@dataclass
class AssayInputs:
    """Where the converted set lies, and the truth the judges never see."""

    dataset: Path
    sources: Path
    truth: dict[str, bool]  # record id -> is an error
    items: dict[str, str]  # record id -> item id (the bootstrap cluster)
    origin: dict[str, str] = field(default_factory=dict)


def doc_id_for(item_id: str) -> str:
    """A file-name-safe document id for an item (also its passage prefix)."""
    return _SAFE.sub("-", item_id).strip("-") or "item"


def write_assay_inputs(answers: Sequence[LabelledAnswer], folder: str | Path,
                       seed: int = 0) -> AssayInputs:
    """Write ``folder/sources/<item>.md`` and ``folder/dataset.jsonl`` (+ ``truth.jsonl``)."""
    from core.sources import chunk_text

    folder = Path(folder)
    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for stale in sources.glob("*.md"):
        stale.unlink()
    rng = random.Random(f"record-ids-{seed}")
    per_item: dict[str, int] = {}
    for answer in answers:
        per_item[answer.item_id] = per_item.get(answer.item_id, 0) + 1
    counters: dict[str, list[int]] = {}
    rows, truth, items, origin = [], {}, {}, {}
    for answer in answers:
        doc = doc_id_for(answer.item_id)
        path = sources / f"{doc}.md"
        if not path.exists():
            path.write_text(answer.knowledge, encoding="utf-8")
        slots = counters.setdefault(doc, [])
        if not slots:  # neutral ids: which of .1/.2 is the error is a coin flip
            count = per_item[answer.item_id]
            slots.extend(rng.sample(range(1, count + 1), count))
        record_id = f"{doc}.{slots.pop(0)}"
        passage_ids = [p.id for p in chunk_text(doc, answer.knowledge)]
        rows.append({"id": record_id, "question": answer.question, "answer": answer.answer,
                     "source_ids": passage_ids})
        truth[record_id], items[record_id] = answer.error, answer.item_id
        origin[record_id] = answer.origin
    dataset = folder / "dataset.jsonl"
    dataset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                       encoding="utf-8")
    (folder / "truth.jsonl").write_text(
        "".join(json.dumps({"id": rid, "error": err, "item": items[rid], "origin": origin[rid]})
                + "\n" for rid, err in truth.items()),
        encoding="utf-8",
    )
    return AssayInputs(dataset, sources, truth, items, origin)


# --- metrics ---------------------------------------------------------------------------------


def p_error(verdict: Verdict) -> float:
    """A verdict as an error score: its confidence if it says error, else 1 − confidence."""
    return verdict.confidence if verdict.label is not Label.supported else 1.0 - verdict.confidence


def auc(scores: Sequence[float] | np.ndarray, truth: Sequence[bool] | np.ndarray) -> float | None:
    """Area under the ROC curve for "error" (Mann–Whitney; ties count half)."""
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=float)
    y = np.asarray(truth, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Confusion:
    """Counts with "error" as the positive class."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, truth: Sequence[bool] | np.ndarray, flagged: Sequence[bool] | np.ndarray) -> Confusion:
        t = np.asarray(truth, dtype=bool)
        f = np.asarray(flagged, dtype=bool)
        return cls(int((t & f).sum()), int((~t & f).sum()), int((t & ~f).sum()),
                   int((~t & ~f).sum()))

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def f1_score(c: Confusion) -> float | None:
    """2TP / (2TP + FP + FN); undefined when nothing is positive in truth or prediction."""
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def kappa(c: Confusion) -> float | None:
    """Cohen's κ between prediction and truth from the 2×2 table."""
    n = c.n
    if not n:
        return None
    po = (c.tp + c.tn) / n
    pe = ((c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn)) / (n * n)
    return None if pe == 1 else (po - pe) / (1 - pe)


def _wilson(k: int, n: int, confidence: float) -> dict[str, Any]:
    from audit.stats import wilson_interval

    if n == 0:
        return {"value": None, "k": k, "n": n, "ci": None}
    ci = wilson_interval(k, n, confidence)
    return {"value": k / n, "k": k, "n": n, "ci": [ci.low, ci.high]}


def _cluster_bootstrap(groups: Sequence[str], replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n_units)`` weights from resampling whole groups with replacement."""
    names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=replicates)
    return draws[:, inverse].astype(float)


def _interval(values: np.ndarray, confidence: float) -> list[float] | None:
    finite = values[np.isfinite(values)]
    if finite.size < max(2, values.size / 2):
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return [float(low), float(high)]


def _weighted_stats(weights: np.ndarray, truth: np.ndarray, flagged: np.ndarray):
    tp = weights @ (truth & flagged)
    fp = weights @ (~truth & flagged)
    fn = weights @ (truth & ~flagged)
    tn = weights @ (~truth & ~flagged)
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        k = np.where(pe < 1, (po - pe) / (1 - pe), np.nan)
    return f1, k


def binary_metrics(
    truth: Sequence[bool] | np.ndarray, flagged: Sequence[bool] | np.ndarray, groups: Sequence[str], *,
    decided: Sequence[bool] | np.ndarray | None = None, confidence: float = 0.95,
    bootstrap: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """Precision, recall, accuracy (Wilson), F1 and κ with the truth (cluster bootstrap).

    ``flagged[i]`` is True when record ``i`` was called an error; records nobody decided are
    not flagged (an audit misses them). ``decided`` (optional) adds coverage and the accuracy
    and κ on decided records only. Bootstrap replicates resample whole ``groups`` (items), so
    the two answers of one item move together.
    """
    t = np.asarray(truth, dtype=bool)
    f = np.asarray(flagged, dtype=bool)
    c = Confusion.of(t, f)
    out: dict[str, Any] = {
        "n": c.n, "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn,
        "precision": _wilson(c.tp, c.tp + c.fp, confidence),
        "recall": _wilson(c.tp, c.tp + c.fn, confidence),
        "accuracy": _wilson(c.tp + c.tn, c.n, confidence),
        "f1": {"value": f1_score(c), "ci": None},
        "kappa": {"value": kappa(c), "ci": None},
    }
    if bootstrap:
        weights = _cluster_bootstrap(groups, bootstrap, seed)
        f1s, kappas = _weighted_stats(weights, t, f)
        out["f1"]["ci"] = _interval(f1s, confidence)
        out["kappa"]["ci"] = _interval(kappas, confidence)
    if decided is not None:
        d = np.asarray(decided, dtype=bool)
        cd = Confusion.of(t[d], f[d])
        out["coverage"] = _wilson(int(d.sum()), len(d), confidence)
        out["decided_only"] = {
            "accuracy": _wilson(cd.tp + cd.tn, cd.n, confidence),
            "kappa": kappa(cd),
            "precision": _ratio(cd.tp, cd.tp + cd.fp),
            "recall": _ratio(cd.tp, cd.tp + cd.fn),
        }
    return out


def auc_with_interval(
    scores: Sequence[float] | np.ndarray, truth: Sequence[bool] | np.ndarray, groups: Sequence[str], *,
    confidence: float = 0.95, bootstrap: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """AUC with a cluster-bootstrap percentile interval."""
    s = np.asarray(scores, dtype=float)
    t = np.asarray(truth, dtype=bool)
    value = auc(s, t)
    ci = None
    if bootstrap and value is not None:
        weights = _cluster_bootstrap(groups, bootstrap, seed).astype(int)
        reps = np.full(bootstrap, np.nan)
        for b in range(bootstrap):
            idx = np.repeat(np.arange(len(s)), weights[b])
            reps[b] = auc(s[idx], t[idx]) if idx.size else np.nan
        ci = _interval(reps, confidence)
    return {"value": value, "ci": ci}


# --- one audit run against its truth -----------------------------------------------------------


def evaluate_run(
    judgments: Sequence[Judgment], inputs: AssayInputs, *, confidence: float = 0.95,
    bootstrap: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """Per judge, the consensus (``audit.stats.weighted_consensus``: every record with a vote
    decided), the plain majority (ties disputed), Dawid–Skene on the labels and the panel's
    mean P(error), scored against the truth: binary metrics, AUC of the error score, and
    invalid-citation shares."""
    from audit.stats import dawid_skene, majority_vote, weighted_consensus

    ids = list(inputs.truth)
    index = {rid: i for i, rid in enumerate(ids)}
    truth = [inputs.truth[rid] for rid in ids]
    groups = [inputs.items[rid] for rid in ids]
    judges = sorted({j.judge for j in judgments})
    labels = np.full((len(ids), len(judges)), np.nan)
    scores = np.full((len(ids), len(judges)), np.nan)
    statuses: dict[str, dict[str, int]] = {name: {} for name in judges}
    for judgment in judgments:
        if judgment.record_id not in index:
            continue
        i, j = index[judgment.record_id], judges.index(judgment.judge)
        counts = statuses[judgment.judge]
        counts[judgment.status.value] = counts.get(judgment.status.value, 0) + 1
        if judgment.decided and judgment.verdict is not None:
            labels[i, j] = float(judgment.verdict.is_error)
            scores[i, j] = p_error(judgment.verdict)
    options: dict[str, Any] = {"confidence": confidence, "bootstrap": bootstrap, "seed": seed}
    results: dict[str, Any] = {"judges": {}, "n": len(ids), "n_error": int(sum(truth))}
    for j, name in enumerate(judges):
        decided = ~np.isnan(labels[:, j])
        flagged = decided & (labels[:, j] == 1)
        n_judged = sum(statuses[name].values())
        invalid = statuses[name].get(JudgmentStatus.invalid_citation.value, 0)
        results["judges"][name] = {
            **binary_metrics(truth, flagged, groups, decided=decided, **options),
            # An undecided judge scores 0.5: it ranks the record as a coin would.
            "auc": auc_with_interval(np.where(decided, scores[:, j], 0.5), truth, groups,
                                     **options),
            "statuses": statuses[name],
            "invalid_citations": _wilson(invalid, n_judged, confidence),
            "labels": _label_counts(judgments, name, index),
        }
    vote = majority_vote(labels, [0.0, 1.0])
    results["majority"] = {
        **binary_metrics(truth, vote.labels == 1, groups, decided=~np.isnan(vote.labels),
                         **options),
        "disputed": vote.n_disputed,
        "undecided": vote.n_undecided,
    }
    # The consensus the reports use: every record with a vote gets a label (ties resolved).
    weighted = weighted_consensus(scores, judges, labels=labels)
    decided_any = ~np.isnan(weighted.labels)
    results["consensus"] = {
        **binary_metrics(truth, weighted.labels == 1, groups, decided=decided_any, **options),
        # Ranked by posterior, ties by the judges' pooled log-odds (WeightedConsensus.ranking).
        "auc": auc_with_interval(np.where(decided_any, weighted.ranking, 0.5), truth, groups,
                                 **options),
        "method": weighted.method,
        "method_reason": weighted.reason,
        "estimated_prevalence": weighted.prevalence,
        "sensitivity": weighted.sensitivity,
        "specificity": weighted.specificity,
        "undecided": int((~decided_any).sum()),
    }
    present = ~np.isnan(scores)
    votes = present.sum(axis=1)
    # Mean over the judges that decided; 0.5 where none did.
    panel = np.where(votes > 0, np.where(present, scores, 0.0).sum(axis=1) / np.maximum(votes, 1),
                     0.5)
    results["panel_mean_p_error"] = {
        "auc": auc_with_interval(panel, truth, groups, **options),
        **binary_metrics(truth, panel > 0.5, groups, **options),
    }
    if len(judges) >= 2 and not np.isnan(labels).all():
        ds = dawid_skene(labels, judges, categories=[0.0, 1.0])
        posterior = ds.posterior[:, 1]
        results["dawid_skene"] = {
            **binary_metrics(truth, posterior >= 0.5, groups, **options),
            "auc": auc_with_interval(posterior, truth, groups, **options),
            "estimated_prevalence": ds.prevalence[1],
            "sensitivity": ds.sensitivity,
            "specificity": ds.specificity,
            "converged": ds.converged,
        }
    return results


def _label_counts(judgments: Sequence[Judgment], judge: str, index: dict[str, int]):
    counts: dict[str, int] = {}
    for j in judgments:
        if j.judge == judge and j.record_id in index:
            key = j.verdict.label.value if j.decided and j.verdict else j.status.value
            counts[key] = counts.get(key, 0) + 1
    return counts
