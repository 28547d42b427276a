"""AuditSummary from hand-built judgments, including abstentions and failures."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest

from audit.summary import AuditSummary, consensus_counts, summarize
from core.errors import ConfigError, DatasetError
from core.models import Judgment, Verdict

NAN = np.nan


def ok(record, judge, label, category="none", severity="none", tokens=(100, 10), cost=0.01):
    verdict = Verdict(label=label, category=category, severity=severity)
    return Judgment(
        run_id="run1",
        record_id=record,
        judge=judge,
        status="ok",
        verdict=verdict,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost_usd=cost,
        latency_s=0.5,
    )


def other(record, judge, status):
    return Judgment(
        run_id="run1",
        record_id=record,
        judge=judge,
        status=status,
        error="x",
        tokens_in=50,
        cost_usd=0.005,
        cache_hit=True,
    )


RECORDS = [
    {"id": "r1", "topic": "fees"},
    {"id": "r2", "topic": "fees"},
    {"id": "r3", "topic": "leave"},
    {"id": "r4", "topic": "leave"},
    {"id": "r5"},
    {"id": "r6", "topic": "fees"},
]

JUDGMENTS = [
    # r1: everyone says error -> consensus error (hard: a major, b critical, c minor)
    ok("r1", "a", "contradicted", "wrong_number", "major"),
    ok("r1", "b", "contradicted", "wrong_number", "critical"),
    ok("r1", "c", "contradicted", "wrong_date", "minor"),
    # r2: two supported, c abstains -> ok
    ok("r2", "a", "supported"),
    ok("r2", "b", "supported"),
    other("r2", "c", "abstain"),
    # r3: a error (minor), b supported, c failed -> disputed
    ok("r3", "a", "not_in_sources", "unsupported_claim", "minor"),
    ok("r3", "b", "supported"),
    other("r3", "c", "failed"),
    # r4: a supported, b and c major errors of different categories -> error
    ok("r4", "a", "supported"),
    ok("r4", "b", "contradicted", "negated_rule", "major"),
    ok("r4", "c", "contradicted", "outdated_rule", "major"),
    # r5: nobody decides -> undecided
    other("r5", "a", "invalid_citation"),
    other("r5", "b", "abstain"),
    other("r5", "c", "failed"),
    # r6: all supported
    ok("r6", "a", "supported"),
    ok("r6", "b", "supported"),
    ok("r6", "c", "supported"),
]

# err matrix the summary must build (rows r1..r6, columns a, b, c)
ERR = np.array(
    [[1, 1, 1], [0, 0, NAN], [1, 0, NAN], [0, 1, 1], [NAN, NAN, NAN], [0, 0, 0]], dtype=float
)


@pytest.fixture(scope="module")
def summary() -> AuditSummary:
    return summarize(JUDGMENTS, RECORDS, population=None, bootstrap=200, seed=1)


def test_per_judge_counts_and_rates(summary):
    a, b, c = (summary.per_judge[j] for j in "abc")
    assert (a.decided, a.abstained, a.failed, a.invalid_citation, a.missing) == (5, 0, 0, 1, 0)
    assert (b.decided, b.abstained, b.failed, b.invalid_citation) == (5, 1, 0, 0)
    assert (c.decided, c.abstained, c.failed, c.invalid_citation) == (3, 1, 2, 0)
    assert (a.inclusive.k, a.inclusive.n, a.hard.k) == (2, 5, 1)
    assert (b.inclusive.k, b.inclusive.n, b.hard.k) == (2, 5, 2)
    assert (c.inclusive.k, c.inclusive.n, c.hard.k) == (2, 3, 1)
    assert c.inclusive.rate == pytest.approx(2 / 3)
    assert a.inclusive.wilson.low < 0.4 < a.inclusive.wilson.high
    assert not a.inclusive.fpc_applied


def test_consensus_states_and_rates(summary):
    assert summary.records == {
        "r1": "error",
        "r2": "ok",
        "r3": "disputed",
        "r4": "error",
        "r5": "undecided",
        "r6": "ok",
    }
    # Issue 23: the tie on r3 is resolved (a's error and b's ok, both of confidence 0.5: a
    # mean P(error) of 0.5 counts as an error), so the rates count every record with a verdict.
    assert summary.resolved == {**summary.records, "r3": "error"}
    cons = summary.consensus
    assert (cons.errors, cons.ok, cons.disputed, cons.undecided) == (3, 2, 1, 1)
    assert (cons.inclusive.k, cons.inclusive.n) == (3, 5)
    assert cons.method == "majority" and "5 records" in cons.method_reason  # too few to weigh
    assert (cons.majority.k, cons.majority.n) == (2, 4)  # the old, selective rate
    # bounds over all 6 sampled records: r3 (disputed) and r5 (undecided) both ways
    assert (cons.bounds.low, cons.bounds.high, cons.bounds.n) == (
        pytest.approx(2 / 6), pytest.approx(4 / 6), 6)
    # hard: r1 (a major, b critical vs c minor) and r4 (b, c major vs a ok) are hard errors;
    # r3 is not disputed on the hard label (a's error is minor).
    assert (cons.hard.k, cons.hard.n, cons.hard_errors, cons.hard_disputed) == (2, 5, 2, 0)


def test_range_categories_topics(summary):
    spread = summary.range_inclusive
    assert (spread.low, spread.high) == (0.4, pytest.approx(2 / 3))
    assert spread.low_judges == ["a", "b"] and spread.high_judges == ["c"]
    assert "2 record" in spread.why  # r3 and r4 are the disagreements
    assert summary.categories == {"outdated_rule": 1, "unsupported_claim": 1,  # r3's tie
                                  "wrong_number": 1}  # r4 tie -> enum order
    assert summary.topics["fees"].model_dump() == dict(n=3, errors=1, unverifiable=0, ok=2,
                                                      disputed=0, undecided=0)
    assert summary.topics["leave"].model_dump() == dict(
        n=2, errors=2, unverifiable=0, ok=0, disputed=0, undecided=0
    )
    assert summary.topics["(none)"].undecided == 1


def test_agreement_block(summary):
    block = summary.agreement
    assert block.disagreements == 2
    # Pairwise agreement over records with >= 2 decided judges: (1 + 1 + 0 + 1/3 + 1) / 5.
    assert block.percent_agreement.value == pytest.approx(2 / 3)
    alpha = krippendorff.alpha(reliability_data=ERR.T, level_of_measurement="nominal")
    assert block.krippendorff_alpha_nominal.value == pytest.approx(alpha, abs=1e-12)
    severity = np.array(
        [[2, 3, 1], [0, 0, NAN], [1, 0, NAN], [0, 2, 2], [NAN, NAN, NAN], [0, 0, 0]], dtype=float
    )
    ordinal = krippendorff.alpha(reliability_data=severity.T, level_of_measurement="ordinal")
    assert block.krippendorff_alpha_ordinal_severity.value == pytest.approx(ordinal, abs=1e-12)
    ab = next(p for p in block.pairs if (p.judge_a, p.judge_b) == ("a", "b"))
    assert ab.confusion == [[2, 1], [1, 1]] and ab.n_both == 5
    assert ab.cohen_kappa.value == pytest.approx(1 / 6)  # po 0.6, pe 0.52
    assert [(p.judge_a, p.judge_b) for p in block.pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    for result in (block.fleiss_kappa, block.gwet_ac1, block.percent_agreement):
        assert result.replicates == 200 and result.value is not None


def test_dawid_skene_and_totals(summary):
    ds = summary.dawid_skene
    assert set(ds.sensitivity) == {"a", "b", "c"} and 0 < ds.prevalence < 1
    assert 0 < ds.expected_errors < 6
    totals = summary.totals
    assert totals.judgments == len(JUDGMENTS)
    assert totals.tokens_in == 13 * 100 + 5 * 50
    assert totals.cost_usd == pytest.approx(13 * 0.01 + 5 * 0.005)
    assert totals.cache_hits == 5
    assert summary.per_judge["c"].tokens_in == 3 * 100 + 3 * 50


def test_summary_is_json_round_trippable(summary):
    text = summary.model_dump_json()
    assert "NaN" not in text
    data = json.loads(text)
    assert data["per_judge"]["a"]["inclusive"]["wilson"]["low"] > 0
    assert AuditSummary.model_validate_json(text) == summary


def test_population_triggers_finite_population_correction():
    corrected = summarize(JUDGMENTS, RECORDS, population=10, bootstrap=0)
    plain = summarize(JUDGMENTS, RECORDS, population=None, bootstrap=0)
    est = corrected.per_judge["a"].inclusive
    assert est.fpc_applied and est.population == 10
    assert est.wilson.width < plain.per_judge["a"].inclusive.wilson.width
    assert corrected.agreement.gwet_ac1.ci is None  # bootstrap off


def test_hard_severity_threshold():
    minor = summarize(JUDGMENTS, RECORDS, population=None, bootstrap=0, hard_severity="minor")
    assert minor.per_judge["a"].hard.k == 2 and minor.per_judge["c"].hard.k == 2
    # The hard rate follows the consensus: r3 (a's minor error against b's ok) is a consensus
    # error, and at "minor" every consensus error is a hard one, none left disputed.
    assert minor.consensus.hard.k == minor.consensus.inclusive.k == 3
    assert minor.consensus.hard_disputed == 0
    split = summarize([ok("x", "a", "contradicted", "wrong_number", "major"),
                       ok("x", "b", "contradicted", "wrong_number", "minor"),
                       ok("y", "a", "supported"), ok("y", "b", "supported")],
                      [{"id": "x"}, {"id": "y"}], population=None, bootstrap=0)
    assert split.consensus.inclusive.k == 1  # x is an error by both judges ...
    assert split.consensus.hard_disputed == 1 and split.consensus.hard.n == 1  # ... split on
    # severity: left out of the hard rate, which rests on y alone
    # Open world: an unverifiable verdict is no vote on error, and none on its severity either.
    lone = summarize([ok("x", "a", "contradicted", "wrong_number", "major"),
                      ok("x", "b", "not_in_sources", "unsupported_claim", "major"),
                      ok("y", "a", "supported"), ok("y", "b", "supported")],
                     [{"id": "x"}, {"id": "y"}], population=None, bootstrap=0,
                     closed_world=False)
    assert lone.consensus.inclusive.k == 1
    assert (lone.consensus.hard.k, lone.consensus.hard.n, lone.consensus.hard_disputed) == (1, 2, 0)
    critical = summarize(JUDGMENTS, RECORDS, population=None, bootstrap=0, hard_severity="critical")
    assert critical.per_judge["b"].hard.k == 1 and critical.per_judge["a"].hard.k == 0
    with pytest.raises(ConfigError, match="hard_severity"):
        summarize(JUDGMENTS, RECORDS, population=None, hard_severity="huge")


def test_single_judge_has_no_agreement_or_dawid_skene():
    only_a = [j for j in JUDGMENTS if j.judge == "a"]
    single = summarize(only_a, RECORDS, population=None, bootstrap=0)
    assert single.agreement is None and single.dawid_skene is None
    assert single.range_inclusive.low == single.range_inclusive.high == 0.4
    assert single.per_judge["a"].missing == 0
    # b judged nothing for r1 here: counted as missing, not as a vote
    partial = summarize(
        [j for j in JUDGMENTS if j.record_id != "r1" or j.judge == "a"],
        RECORDS,
        population=None,
        bootstrap=0,
    )
    assert partial.per_judge["b"].missing == 1


def test_a_decided_judgment_wins_over_a_failed_retry():
    retried = JUDGMENTS + [other("r1", "a", "failed")]
    assert summarize(retried, RECORDS, population=None, bootstrap=0).per_judge["a"].decided == 5


def test_invalid_inputs():
    with pytest.raises(DatasetError, match="not in the records"):
        summarize(JUDGMENTS + [ok("zz", "a", "supported")], RECORDS, population=None)
    with pytest.raises(DatasetError, match="twice"):
        summarize(JUDGMENTS, RECORDS + [{"id": "r1"}], population=None)
    with pytest.raises(ConfigError, match="population"):
        summarize(JUDGMENTS, RECORDS, population=3)


def test_consensus_counts_for_early_stopping():
    assert consensus_counts(JUDGMENTS) == (3, 5)  # r3's tie resolved; r5 undecided


def test_judges_that_all_failed_or_abstained_give_no_agreement_value():
    # One record, two judges refused (auth), one abstained: nothing is pairable. The CI run
    # of the secrets scenario crashed here (Cohen's κ over zero categories).
    judgments = [other("r1", "a", "failed"), other("r1", "b", "failed"),
                 other("r1", "c", "abstain")]
    summary = summarize(judgments, RECORDS[:1], population=None, bootstrap=200)
    agreement = summary.agreement
    alpha = agreement.krippendorff_alpha_nominal
    assert alpha.value is None and alpha.ci is None and alpha.n_units == 0
    assert all(pair.cohen_kappa.value is None for pair in agreement.pairs)
    assert summary.per_judge["a"].failed == 1 and summary.per_judge["a"].decided == 0
