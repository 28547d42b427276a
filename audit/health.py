"""Is a stored run the panel result it claims to be? ``run_health`` says so in words.

A run is *degraded* when a judge failed (or has no judgment) on more than
``max_unusable_share`` of the judged records, or when fewer than two judges gave a verdict: its
"consensus" is then one judge's opinion, or none. ``audit sample`` and ``audit run`` exit with
``EXIT_DEGRADED`` for such a run, the headline says why, and the JSON report carries the flag.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from audit.summary import AuditSummary

EXIT_DEGRADED = 4  # distinct from usage errors (2) and the gate's fail (1) / inconclusive (3)


class JudgeHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge: str
    failed: int = Field(description="judged records this judge failed on or never judged")
    decided: int


class RunHealth(BaseModel):
    """Whether the run is a real panel result; ``words`` is the headline sentence."""

    model_config = ConfigDict(extra="forbid")

    degraded: bool
    n: int = Field(description="judged records")
    max_unusable_share: float
    judges: list[JudgeHealth]
    judges_with_verdicts: int
    words: str = Field(description="one sentence for the headline; empty when healthy")


def run_health(summary: AuditSummary, judge_names: list[str], max_unusable_share: float) -> RunHealth:
    """Health of a run whose panel is ``judge_names`` (judges without any judgment count too)."""
    n = summary.n
    judges = []
    for name in dict.fromkeys([*judge_names, *summary.judges]):
        stats = summary.per_judge.get(name)
        failed = stats.failed + stats.missing if stats else n
        judges.append(JudgeHealth(judge=name, failed=failed, decided=stats.decided if stats else 0))
    failing = [j for j in judges if n and j.failed / n > max_unusable_share]
    with_verdicts = sum(1 for j in judges if j.decided > 0)
    degraded = bool(failing) or with_verdicts < 2
    return RunHealth(
        degraded=degraded,
        n=n,
        max_unusable_share=max_unusable_share,
        judges=judges,
        judges_with_verdicts=with_verdicts,
        words=_words(failing, len(judges), with_verdicts, n) if degraded else "",
    )


def _words(failing: list[JudgeHealth], panel: int, with_verdicts: int, n: int) -> str:
    if failing:
        if all(j.failed == n for j in failing):
            where = f"all {n} records"
        else:
            where = ", ".join(f"{j.failed} of {n} records ({j.judge})" for j in failing)
        names = ", ".join(j.judge for j in failing)
        cause = f"{len(failing)} of {panel} judges ({names}) failed on {where}"
    else:
        cause = f"only {with_verdicts} of {panel} judge{'s' if panel != 1 else ''} gave verdicts"
    if with_verdicts == 0:
        return f"{cause}: there is no result."
    if with_verdicts == 1:
        return f"{cause}: this is a one-judge result, not a consensus."
    return f"{cause}: the consensus rests on fewer judges than planned."
