from audit.citations import quote_in_passage, verify_citations
from core.models import Citation, Label, Passage, Verdict

TEXT = "Students may work up to 20 hours per week on campus while classes are in session."
PASSAGES = {"work#0": Passage(id="work#0", doc_id="work", text=TEXT, sha256="x")}


def test_quote_matching_ignores_case_whitespace_and_tiny_differences():
    assert quote_in_passage("students may work up to 20  hours\nper week", TEXT)
    assert quote_in_passage("Students may work up to 20 hours per week on campus while classes "
                            "are in sesion", TEXT)  # one typo in a long quote
    assert not quote_in_passage("Students may work up to 40 hours per week off campus", TEXT)
    assert not quote_in_passage("20", TEXT)  # too short to be evidence


def test_fabricated_quote_makes_the_verdict_invalid():
    verdict = Verdict(label=Label.contradicted,
                      citations=[Citation(passage_id="work#0",
                                          quote="Students may work up to 40 hours per week")])
    check = verify_citations(verdict, PASSAGES)
    assert not check.valid
    assert "quote not found in work#0" in check.problems[0]


def test_unknown_passage_and_uncited_contradiction_are_invalid():
    unknown = Verdict(label=Label.supported,
                      citations=[Citation(passage_id="nope#1", quote="Students may work")])
    assert "unknown passage" in verify_citations(unknown, PASSAGES).problems[0]
    bare = Verdict(label=Label.contradicted)
    assert not verify_citations(bare, PASSAGES).valid
    good = Verdict(label=Label.supported,
                   citations=[Citation(passage_id="work#0", quote="up to 20 hours per week")])
    assert verify_citations(good, PASSAGES).valid
