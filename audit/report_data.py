"""Assemble the ``AuditReport``: every number and every highlight the reports render.

``reports`` only renders; this module reads one stored run, calls ``audit.summary.summarize``
and adds what a reader needs beside the statistics: the run header, one row per sampled record
with each judge's verdict and the cited evidence (quote, passage id, passage snippet), the
*wrong span* of an answer (the part to highlight), disagreements, invalid citations and
failures with their error text, cost, plain-word readings of the agreement coefficients and a
``suspicious`` flag for records carrying prompt-injection-like text.

The report is versioned (``schema_version``); its JSON Schema is committed at
``reports/schema/report-v1.schema.json``. Change the model → bump the version.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from audit.citations import normalise, quote_in_passage
from audit.gate import GatePolicy
from audit.gold import GoldComparison, compare_with_gold, resolve_gold_judge
from audit.health import RunHealth, run_health
from audit.specifics import SpecificsSection, sample_specifics
from audit.summary import AgreementSummary, AuditSummary, summarize
from core.errors import SourceError
from core.models import GateDecision, Judgment, JudgmentStatus, Label, Outcome, Passage
from core.runs import AuditRun, StoredRun, open_run
from core.store import Store

SCHEMA_VERSION: Final = "1"
SNIPPET_CHARS = 320
ConsensusState = Literal["error", "unverifiable", "ok", "disputed", "undecided"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeInfo(_Model):
    name: str
    provider: str
    model: str = ""


class RunHeader(_Model):
    run_id: str
    status: str
    created: str
    updated: str
    dataset_path: str | None
    dataset_sha256: str | None
    sources_path: str | None = Field(description="null: closed-book (no sources)")
    sources_sha256: str | None = Field(
        default=None, description="corpus hash of the sources' passages; 'none': closed-book")
    closed_book: bool = Field(default=False, description="no sources, no retrieval")
    sources_complete: bool = Field(
        default=True, description="closed world: a claim the sources do not state is an error")
    evidence: str = Field(default="", description="one sentence: what the run checked answers "
                          "against and what that lets it tell")
    sources_available: bool = Field(description="passage texts could be read for snippets")
    n_sampled: int
    n_judged: int = Field(description="sampled records with at least one judgment")
    population: int | None
    seed: int | None
    confidence: float
    stratify: str | None = None
    active_sample: str | None = Field(
        default=None, description="how an active gold sample was drawn (audit sample --active); "
        "the run's own rates are then unweighted: audit estimate weights them")
    evidence_k: int | None = None
    retrieval: str | None = Field(default=None, description="bm25 or hybrid; None: not recorded")
    judges: list[JudgeInfo]


class Span(_Model):
    """A character range ``[start, end)`` of the answer, and why it is highlighted."""

    start: int
    end: int
    text: str
    reason: str


class CitationRow(_Model):
    passage_id: str
    quote: str
    verified: bool | None = Field(description="quote found in its passage; null: text unknown")
    snippet: str | None = Field(description="the passage text around the quote")


class VerdictRow(_Model):
    judge: str
    status: JudgmentStatus
    label: Label | None = None
    category: str | None = None
    severity: str | None = None
    confidence: float | None = None
    rationale: str = ""
    citations: list[CitationRow] = Field(default_factory=list)
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cache_hit: bool = False
    outcome: Outcome | None = Field(
        default=None, description="error, unverifiable or ok under the run's sources (decided "
        "verdicts only)")
    uncited: bool = Field(default=False, description="a verdict without any citation (every "
                          "verdict of a closed-book run: there is nothing to quote)")

    @property
    def is_error(self) -> bool:
        if self.status is not JudgmentStatus.ok:
            return False
        if self.outcome is None:  # built without a run: the closed-world reading
            return self.label not in (None, Label.supported)
        return self.outcome is Outcome.error


class RecordRow(_Model):
    id: str
    position: int
    topic: str | None
    question: str
    answer: str
    consensus: ConsensusState
    resolved: ConsensusState | None = Field(
        None, description="the state the headline's rates count: the consensus with its ties "
        "resolved by the consensus method (None in reports made before it: as consensus)")
    disagreement: bool = Field(description="deciding judges give different outcomes")
    verdicts: list[VerdictRow]
    wrong_spans: list[Span]
    suspicious: list[str] = Field(description="why the text looks like a prompt injection")


class Problem(_Model):
    record_id: str
    judge: str
    status: JudgmentStatus
    error: str


class AgreementReading(_Model):
    coefficient: str
    value: float | None
    words: str


class AuditReport(_Model):
    """Everything ``reports`` renders about one audit run (JSON export = this model)."""

    model_config = ConfigDict(extra="forbid", title="Assay audit report")

    schema_version: Literal["1"] = SCHEMA_VERSION
    run: RunHeader
    summary: AuditSummary
    readings: list[AgreementReading]
    reading: str = Field(description="one sentence on what the agreement means for the rate")
    records: list[RecordRow]
    disagreements: list[str] = Field(description="ids of records the judges disagree on")
    invalid_citations: list[Problem]
    failures: list[Problem]
    suspicious: list[str] = Field(description="ids of records with injection-like text")
    decisions: list[GateDecision]
    health: RunHealth = Field(description="whether this is a real panel result, and why not")
    gold: GoldComparison | None = Field(
        default=None, description="every judge against the run's gold labels, when it has some")
    specifics: SpecificsSection | None = Field(
        default=None, description="checks that need no sources (cross-record conflicts, "
        "unverified specifics) for the sampled records; never counted as judge errors")

    def record(self, record_id: str) -> RecordRow:
        return next(row for row in self.records if row.id == record_id)


# -- agreement in words -------------------------------------------------------------------

AGREEMENT_BANDS: list[tuple[float, str]] = [
    (0.0, "judges agree less than chance would: the rate is not trustworthy"),
    (0.2, "judges barely agree: treat the rate as very uncertain"),
    (0.4, "judges agree only fairly: treat the rate as uncertain"),
    (0.6, "judges agree only moderately: treat the rate as uncertain"),
    (0.8, "judges agree substantially: the rate is fairly reliable"),
    (float("inf"), "judges agree almost perfectly: the rate is reliable"),
]


def agreement_words(value: float | None, *, severity: bool = False) -> str:
    """Plain words for a chance-corrected agreement value (Landis & Koch bands).

    ``severity``: the value measures agreement on the severity of errors, so the words speak
    of the hard rate, not of the error rate.
    """
    if value is None:
        return "undefined (too few shared decisions, or one label only): agreement unknown"
    words = next(words for upper, words in AGREEMENT_BANDS if value < upper)
    if severity:
        words = words.replace(" agree", " agree on severity", 1).replace("the rate", "the hard rate")
    return words


PARADOX_GAP = 0.3  # AC1 this far above alpha (or alpha undefined): the coefficients disagree


def dominant_label(agreement: AgreementSummary) -> tuple[str, float] | None:
    """The commoner of "error" / "no error" (ok or unverifiable) among the verdicts the
    judges share, and its share.

    Read from the pairwise confusion tables, i.e. the paired verdicts that the
    chance-corrected coefficients are computed on (None when no verdict is shared).
    """
    errors = total = 0
    for pair in agreement.pairs:
        (ok_ok, ok_err), (err_ok, err_err) = pair.confusion
        errors += 2 * err_err + ok_err + err_ok
        total += 2 * (ok_ok + ok_err + err_ok + err_err)
    if not total:
        return None
    share = errors / total
    return ("error", share) if share >= 0.5 else ("no error", 1 - share)


def _paradox(agreement: AgreementSummary, alpha: float | None, ac1: float | None) -> str | None:
    """One line on why AC1 and alpha/kappa disagree, or None when they do not."""
    if ac1 is None or (alpha is not None and ac1 - alpha < PARADOX_GAP):
        return None
    dominant = dominant_label(agreement)
    if dominant is None:
        return None
    label, share = dominant
    if share >= 1.0:
        return (f"Every verdict the judges share is '{label}': they agree, but with one label "
                "only agreement cannot show that they tell errors from correct answers (alpha "
                "and kappa are undefined, AC1 is 1 by construction); read the rate from its "
                "interval and the disputed records.")
    return (f"The coefficients disagree because one label dominates: {share:.0%} of the shared "
            f"verdicts are '{label}' (the prevalence paradox), which pulls alpha and kappa "
            "down and AC1 up, so neither alone says how reliable the rate is; read the rate "
            "from its interval and the disputed records.")


def _paradox_words(name: str, value: float | None) -> str:
    """A coefficient's words when one label dominates: what moved it, not a verdict."""
    if value is None:
        return "undefined with one label only: not a reading of reliability here"
    way = "up" if name == "Gwet's AC1" else "down"
    return f"pulled {way} by one dominant label: not a reading of reliability here"


def _readings(summary: AuditSummary) -> tuple[list[AgreementReading], str]:
    agreement = summary.agreement
    if agreement is None:
        return [], "one judge only: no agreement to measure; add a judge to check the rate"
    named = {
        "Krippendorff's alpha (nominal)": agreement.krippendorff_alpha_nominal.value,
        "Krippendorff's alpha (ordinal severity)":
            agreement.krippendorff_alpha_ordinal_severity.value,
        "Fleiss' kappa": agreement.fleiss_kappa.value,
        "Gwet's AC1": agreement.gwet_ac1.value,
    }
    alpha, ac1 = named["Krippendorff's alpha (nominal)"], named["Gwet's AC1"]
    paradox = _paradox(agreement, alpha, ac1)
    readings = []
    for name, value in named.items():
        words = agreement_words(value, severity="severity" in name)
        if paradox and "severity" not in name:
            words = _paradox_words(name, value)
        readings.append(AgreementReading(coefficient=name, value=value, words=words))
    if paradox:
        return readings, paradox
    sentence = agreement_words(alpha)
    return readings, sentence[0].upper() + sentence[1:] + "."


# -- prompt-injection-like text -----------------------------------------------------------

_SUSPICIOUS: list[tuple[str, re.Pattern[str]]] = [
    ("instruction override", re.compile(
        r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|"
        r"all|any|your|the)\b[^.\n]{0,20}\b(?:instructions?|prompts?|rules|context|guidelines)\b"
        r"|\bnew instructions?\b|\byou are now\b|\bact as (?:a|an|the)\b", re.I)),
    ("role marker", re.compile(
        r"(?:^|\n)\s*(?:system|assistant|user|developer|human)\s*:"
        r"|<\|?\s*(?:im_start|im_end|system|assistant|user|endoftext)\s*\|?>"
        r"|\[/?INST\]|<</?SYS>>|#{2,}\s*(?:system|instruction)", re.I)),
    ("fake delimiter", re.compile(
        r"</?\s*(?:evidence|answer|question|record|passage|sources?|instructions?|system|data)\s*>"
        r"|\b(?:end|begin)\s+(?:of\s+)?(?:evidence|answer|record|system|instructions?|data)\b"
        r"|(?:-{4,}|={4,}|`{3})", re.I)),
    ("verdict-shaped JSON", re.compile(
        r"[\"'](?:label|verdict|severity|category|citations)[\"']\s*:"
        r"|\b(?:verdict|label)\s*[:=]\s*[\"']?(?:supported|contradicted|not_in_sources|correct)",
        re.I)),
    ("HTML or script markup", re.compile(
        r"<\s*/?\s*(?:script|iframe|object|embed|img|svg|style|link|meta)\b"
        r"|\bjavascript:|[\"']\s*on[a-z]+\s*=", re.I)),
    ("addressed to the judge", re.compile(
        r"\b(?:judge|grader|evaluator|auditor|reviewer)s?\b[^.\n]{0,40}\b(?:must|should|will|mark|"
        r"label|rate|output|respond|answer)\b"
        r"|\b(?:mark|label|rate|classify)\b[^.\n]{0,30}\bas\s+(?:supported|correct|accurate|true)",
        re.I)),
]


def suspicious_reasons(*texts: str | None) -> list[str]:
    """Why ``texts`` look like a prompt injection (empty list: nothing found)."""
    found = []
    for reason, pattern in _SUSPICIOUS:
        if any(text and pattern.search(text) for text in texts):
            found.append(reason)
    return found


# -- the wrong span ----------------------------------------------------------------------

_QUOTED = re.compile(r"'([^'\n]{1,80})'|\"([^\"\n]{1,80})\"|“([^”\n]{1,80})”")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,:/]\d+)*%?")


def wrong_spans(answer: str, verdicts: list[VerdictRow], evidence: str) -> list[Span]:
    """The parts of ``answer`` the error verdicts point at, in order, not overlapping.

    Tried in order, the first that finds something wins:
    1. text a judge's rationale quotes that occurs in the answer and not in the evidence
       (the rules judge writes "the answer says '$500' but the source gives '$250'");
    2. checkable values (amounts, dates, times, counts...) absent from the evidence;
    3. runs of content words absent from the evidence.
    ``evidence`` is the text of every passage the record's judges cited or the record names.
    """
    errors = [v for v in verdicts if v.is_error]
    if not errors:
        return []
    spans = _quoted_spans(answer, errors, evidence)
    if not spans and evidence:
        spans = _absent_values(answer, evidence) or _absent_words(answer, evidence)
    return _no_overlap(spans)


def _quoted_spans(answer: str, errors: list[VerdictRow], evidence: str) -> list[Span]:
    spans, lower, ev = [], answer.lower(), normalise(evidence)
    for verdict in errors:
        for match in _QUOTED.finditer(verdict.rationale):
            quoted = next(g for g in match.groups() if g is not None).strip()
            start = lower.find(quoted.lower()) if quoted else -1
            if start < 0 or normalise(quoted) in ev:
                continue
            end = start + len(quoted)
            spans.append(Span(start=start, end=end, text=answer[start:end],
                              reason=f"{verdict.judge}: {verdict.rationale}"))
    return spans


def _absent_values(answer: str, evidence: str) -> list[Span]:
    from audit.judges.facts import extract_quantities

    ev = normalise(evidence)
    return [
        Span(start=q.start, end=q.end, text=answer[q.start:q.end],
             reason="this value appears nowhere in the cited evidence")
        for q in extract_quantities(answer)
        if normalise(q.text) not in ev
    ]


def _absent_words(answer: str, evidence: str, keep: int = 3) -> list[Span]:
    from audit.judges.facts import content_words

    known = set(content_words(evidence))
    runs: list[list[int]] = []  # [start, end, content words]
    gap = True
    for m in _WORD.finditer(answer):
        stems = content_words(m.group(0))
        if not stems:
            continue  # stop words neither break nor start a run
        if all(s in known for s in stems):
            gap = True
            continue
        if gap:
            runs.append([m.start(), m.end(), 0])
        runs[-1][1:] = [m.end(), runs[-1][2] + 1]
        gap = False
    longest = sorted(runs, key=lambda r: (-r[2], r[0]))[:keep]
    return [Span(start=s, end=e, text=answer[s:e],
                 reason="these words appear nowhere in the cited evidence")
            for s, e, _ in sorted(longest)]


def _no_overlap(spans: list[Span]) -> list[Span]:
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


# -- assembling the report ----------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")  # a recorded corpus hash (runs stored before it: none)


def load_run_passages(run: AuditRun) -> dict[str, Passage] | None:
    """The passages of the run's sources folder, or None when it cannot be read now or is not
    the corpus the run judged against (another folder at a relative path read from another
    working directory, or edited sources): quotes are never checked against other text."""
    from audit.run_sources import corpus_sha256
    from core.sources import load_passages

    folder = run.sources_path
    if not folder or not Path(folder).is_dir():
        return None
    try:
        passages = {p.id: p for p in load_passages(folder)}
    except SourceError:
        return None
    if _SHA256.fullmatch(run.sources_sha256 or "") and (
            corpus_sha256(passages.values()) != run.sources_sha256):
        return None
    return passages


def build_report(
    store: Store,
    run_id: str | None,
    *,
    passages: dict[str, Passage] | None = None,
    bootstrap: int = 1000,
    hard_severity: str = "major",
    max_unusable_share: float | None = None,
    gold_judge: str | None = None,
    with_specifics: bool = True,
) -> AuditReport:
    """The report of a stored audit run (an id, a unique prefix, or None: the latest);
    ``passages`` default to the run's sources folder.

    ``max_unusable_share`` (default: the default gate policy's) decides ``health.degraded``.
    ``gold_judge`` names the judge whose labels are gold (default: the run's one reviewer or
    imported judge, if any); every other judge is then scored against it.
    ``with_specifics`` adds the checks that need no sources (they read the whole dataset).
    """
    stored = open_run(store, run_id)
    run_id, config = stored.id, stored.audit
    if passages is None:
        passages = load_run_passages(config)
    judgments = store.judgments(run_id)
    sampled = store.run_records(run_id)
    judged_ids = {j.record_id for j in judgments}
    records = [r for r in sampled if r["id"] in judged_ids]
    closed_world = config.closed_world
    summary = summarize(
        judgments, records, population=config.population or None,
        confidence=config.confidence, bootstrap=bootstrap,
        seed=config.seed, hard_severity=hard_severity, closed_world=closed_world,
    )
    rows = _record_rows(records, judgments, summary, passages or {}, passages is not None,
                        closed_world)
    readings, reading = _readings(summary)
    header = _header(stored, len(sampled), len(records), passages is not None)
    if max_unusable_share is None:
        max_unusable_share = GatePolicy().max_unusable_share
    return AuditReport(
        run=header,
        summary=summary,
        readings=readings,
        reading=reading,
        records=rows,
        disagreements=[r.id for r in rows if r.disagreement],
        invalid_citations=_problems(rows, JudgmentStatus.invalid_citation),
        failures=_problems(rows, JudgmentStatus.failed),
        suspicious=[r.id for r in rows if r.suspicious],
        decisions=store.decisions(run_id, dataset_sha256=header.dataset_sha256),
        health=run_health(summary, [j.name for j in header.judges], max_unusable_share),
        gold=_gold(stored, judgments, [r["id"] for r in records], gold_judge, summary, bootstrap),
        specifics=sample_specifics(config, [r["id"] for r in sampled]) if with_specifics else None,
    )


def _gold(run, judgments, record_ids, gold_judge, summary, bootstrap) -> GoldComparison | None:
    gold = resolve_gold_judge(run, judgments, gold_judge)
    if gold is None or not record_ids or len(summary.judges) < 2:
        return None
    return compare_with_gold(judgments, record_ids, gold, confidence=summary.confidence,
                             bootstrap=bootstrap, seed=summary.seed,
                             closed_world=run.audit.closed_world)


_OFFLINE = ("local", "rules")  # judges that can only compare an answer with evidence


def evidence_words(run: AuditRun) -> str:
    """What the run checked answers against, and so what its figures can tell."""
    if run.closed_book:
        llm = [j.name for j in run.judges if j.provider not in _OFFLINE]
        if not llm:
            return ("closed-book (no sources): the offline judges only compare answers with "
                    "evidence, so every answer they decide is unverifiable; this run cannot "
                    "tell a wrong answer from a right one. Add --sources DIR, or an LLM judge "
                    "that judges from its own knowledge")
        return (f"closed-book (no sources): only {', '.join(llm)} judge(s) from their own "
                "knowledge; every verdict is uncited, and what they cannot tell is "
                "unverifiable, never an error")
    if run.closed_world:
        return ("sources declared complete (closed world): a claim they do not state counts "
                "as an error")
    return ("sources not declared complete (open world): a claim they neither support nor "
            "contradict is unverifiable, not an error")


def _header(run: StoredRun, n_sampled: int, n_judged: int, sources_available: bool) -> RunHeader:
    config = run.audit
    return RunHeader(
        run_id=run.id,
        status=run.status,
        created=run.created,
        updated=run.updated,
        dataset_path=config.dataset_path,
        dataset_sha256=config.dataset_sha256,
        sources_path=config.sources_path,
        sources_sha256=config.sources_sha256,
        closed_book=config.closed_book,
        sources_complete=config.closed_world,
        evidence=evidence_words(config),
        sources_available=sources_available and not config.closed_book,
        n_sampled=n_sampled,
        n_judged=n_judged,
        population=config.population or None,
        seed=config.seed,
        confidence=config.confidence,
        stratify=config.stratify,
        active_sample=None if config.sampling is None else (
            f"active: favours the records cheap run {config.sampling.cheap_run} is unsure about "
            f"({config.sampling.floor:.0%} of the sample spread uniformly)"),
        evidence_k=config.evidence_k,
        retrieval=config.retrieval,
        judges=[JudgeInfo(name=j.name, provider=j.provider, model=j.model) for j in config.judges],
    )


def _record_rows(records, judgments, summary, passages, known, closed_world) -> list[RecordRow]:
    by_record: dict[str, dict[str, Judgment]] = {}
    for judgment in judgments:  # the same choice as summarize: a decided one wins
        mine = by_record.setdefault(judgment.record_id, {})
        held = mine.get(judgment.judge)
        if held is None or judgment.decided or not held.decided:
            mine[judgment.judge] = judgment
    rows = []
    for position, record in enumerate(records):
        chosen = by_record.get(record["id"], {})
        verdicts = [_verdict_row(chosen[name], passages, known, closed_world)
                    for name in sorted(chosen)]
        labels = {v.outcome for v in verdicts if v.status is JudgmentStatus.ok and v.outcome}
        evidence = _evidence_text(record, verdicts, passages)
        context = " ".join(turn.get("content", "") for turn in record.get("context", []))
        rows.append(RecordRow(
            id=record["id"],
            position=position,
            topic=record.get("topic"),
            question=record["question"],
            answer=record["answer"],
            consensus=summary.records[record["id"]],
            resolved=summary.resolved.get(record["id"], summary.records[record["id"]]),
            disagreement=len(labels) > 1,
            verdicts=verdicts,
            wrong_spans=wrong_spans(record["answer"], verdicts, evidence),
            suspicious=suspicious_reasons(record["question"], record["answer"],
                                          record.get("rationale"), context),
        ))
    return rows


def _verdict_row(judgment: Judgment, passages: dict[str, Passage], known: bool,
                 closed_world: bool = True) -> VerdictRow:
    usage = {
        "judge": judgment.judge, "status": judgment.status, "error": judgment.error,
        "tokens_in": judgment.tokens_in, "tokens_out": judgment.tokens_out,
        "cost_usd": judgment.cost_usd, "latency_s": judgment.latency_s,
        "cache_hit": judgment.cache_hit,
    }
    verdict = judgment.verdict
    if verdict is None:
        return VerdictRow(**usage)
    return VerdictRow(
        **usage,
        label=verdict.label,
        category=verdict.category.value,
        severity=verdict.severity.value,
        confidence=verdict.confidence,
        rationale=verdict.rationale,
        outcome=verdict.outcome(closed_world),
        uncited=not verdict.citations,
        citations=[_citation_row(c.passage_id, c.quote, passages, known)
                   for c in verdict.citations],
    )


def _citation_row(passage_id: str, quote: str, passages: dict[str, Passage],
                  known: bool) -> CitationRow:
    passage = passages.get(passage_id)
    if passage is None:
        return CitationRow(passage_id=passage_id, quote=quote,
                           verified=False if known else None, snippet=None)
    return CitationRow(passage_id=passage_id, quote=quote,
                       verified=quote_in_passage(quote, passage.text),
                       snippet=snippet(passage.text, quote))


def snippet(text: str, quote: str, width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around ``quote`` (its start when not found)."""
    head = quote.strip()[:40].lower()
    at = text.lower().find(head) if head else -1
    start = 0 if at < 0 else max(0, at - (width - len(quote)) // 2)
    start = max(0, min(start, len(text) - width))
    piece = " ".join(text[start:start + width].split())
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")


def _evidence_text(record: dict, verdicts: list[VerdictRow], passages: dict[str, Passage]) -> str:
    ids = list(record.get("source_ids") or [])
    ids += [c.passage_id for v in verdicts for c in v.citations]
    texts = [passages[i].text for i in dict.fromkeys(ids) if i in passages]
    if not texts:  # no passage text: the quotes are all the evidence we have
        texts = [c.quote for v in verdicts for c in v.citations]
    return "\n".join(texts)


def _problems(rows: list[RecordRow], status: JudgmentStatus) -> list[Problem]:
    return [
        Problem(record_id=row.id, judge=v.judge, status=v.status, error=v.error or "(no message)")
        for row in rows for v in row.verdicts if v.status is status
    ]


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``AuditReport`` (committed at reports/schema/report-v1.schema.json)."""
    schema = AuditReport.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
