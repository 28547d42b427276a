"""Every bad dataset, config and source file gives one clear error line, never a traceback."""

from __future__ import annotations

import pytest
from malformed import CASES, CORPUS, TOLERATED, Outcome, run_corpus


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    work = tmp_path_factory.mktemp("malformed")
    return {o.case.name: o for o in run_corpus(work, CASES + TOLERATED)}


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 30
    assert {case.kind for case in CASES} >= {"dataset", "judges", "policy", "sources", "generate"}
    assert len({case.name for case in CASES + TOLERATED}) == len(CASES) + len(TOLERATED)
    assert (CORPUS / "good.jsonl").is_file()


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_bad_input_gives_one_clear_error_line(outcomes, name):
    outcome = outcomes[name]
    assert outcome.clear, (
        f"{name}: {'; '.join(outcome.problems)}\nexit {outcome.returncode}\n"
        f"stderr:\n{outcome.stderr[-2000:]}"
    )


@pytest.mark.parametrize("name", [case.name for case in TOLERATED])
def test_odd_but_valid_input_is_accepted(outcomes, name):
    outcome = outcomes[name]
    assert outcome.clear, f"{name}: {'; '.join(outcome.problems)}"
