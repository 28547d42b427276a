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


# --- issue 23: no citation the checker rejects; citations about the record's subject -------

from audit.citations import subject_words, unrelated_citation  # noqa: E402
from audit.judges.local import citable_quote, split_sentences  # noqa: E402

FAQ = ("Students on F-1 status can apply for CPT after one academic year of full-time study. "
       "Is a job offer needed? No.")
FAQ_PASSAGE = Passage(id="faq#0", doc_id="faq", text=FAQ, sha256="x")


def test_a_short_tail_is_never_a_sentence_of_its_own():
    texts = [s.text for s in split_sentences(FAQ_PASSAGE)]
    assert texts[-1] == "Is a job offer needed? No."
    assert all(quote_in_passage(t, FAQ) for t in texts)  # every candidate citation is citable


def test_a_cached_short_tail_is_cited_as_its_whole_sentence():
    assert not quote_in_passage("No.", FAQ)  # what the local judge used to cite
    quote = citable_quote("faq#0", "No.", [FAQ_PASSAGE])
    assert quote == "Is a job offer needed? No."
    verdict = Verdict(label=Label.not_in_sources,
                      citations=[Citation(passage_id="faq#0", quote=quote)])
    assert verify_citations(verdict, {"faq#0": FAQ_PASSAGE}).valid
    assert citable_quote("faq#0", "No.", []) is None  # no passage: uncited, never invalid
    long_quote = "can apply for CPT after one academic year"
    assert citable_quote("faq#0", long_quote, [FAQ_PASSAGE]) == long_quote


SCHOLARSHIP = Passage(id="aid#2", doc_id="aid", sha256="x",
                      text="## Merit scholarships\n\nStudents must keep a cumulative GPA of at "
                      "least 3.0 to keep the scholarship.")
CPT = Passage(id="work#3", doc_id="work", sha256="x",
              text="## Curricular Practical Training (CPT)\n\nCPT approval needs a job offer "
              "letter and enrolment in a CPT course of at least one credit hour.")
ADV_0011 = ("Are there any other requirements for CPT approval?",
            "Besides the job offer letter and the CPT course, you need a cumulative GPA of at "
            "least 2.5, and the employer must be enrolled in E-Verify.")


def test_a_contradiction_cited_from_another_subject_is_an_invalid_citation():
    """Bundled example adv-0011: a CPT answer 'contradicted' by a scholarship GPA rule."""
    passages = {p.id: p for p in (SCHOLARSHIP, CPT)}
    wrong_reason = Verdict(label=Label.contradicted, citations=[Citation(
        passage_id="aid#2", quote="Students must keep a cumulative GPA of at least 3.0")])
    assert verify_citations(wrong_reason, passages).valid  # quotes alone: valid
    check = verify_citations(wrong_reason, passages, *ADV_0011)
    assert not check.valid and "about something else" in check.problems[0]
    assert {"cpt", "approval"} <= subject_words(ADV_0011[0])
    right_reason = Verdict(label=Label.contradicted, citations=[Citation(
        passage_id="work#3", quote="CPT approval needs a job offer letter")])
    assert verify_citations(right_reason, passages, *ADV_0011).valid
    # the heading names the subject even when the quoted sentence does not
    headed = Verdict(label=Label.contradicted, citations=[Citation(
        passage_id="work#3", quote="a job offer letter and enrolment in a CPT course")])
    assert unrelated_citation(headed, passages, "What does curricular training need?") is None
    # a supported verdict is not held to it (its quotes are checked as before)
    supported = wrong_reason.model_copy(update={"label": Label.supported})
    assert verify_citations(supported, passages, *ADV_0011).valid
