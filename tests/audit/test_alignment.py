"""Claim-by-claim alignment: errors made of the source's own words, each citing the evidence
sentence it was compared with (and the citation passes the project's quote checker)."""

from __future__ import annotations

import asyncio

import pytest

from audit.citations import verify_citations
from audit.judges.alignment import Aligner, evidence_sentences
from audit.judges.rules import RulesJudge
from core.models import Category, JudgeSpec, Label, Passage, QARecord, sha256_text

SOURCE = (
    "## Credit and offices\n\n"
    "The Registrar evaluates transfer credit within 4 weeks of receiving official transcripts. "
    "Appeals must be sent to the Office of Student Financial Aid within 30 days of the "
    "cancellation notice. "
    "The Duolingo English Test is accepted for undergraduate admission. "
    "Applicants must score at least 6.5 on the IELTS to be admitted. "
    "Emergency room visits have a $150 copay, which is waived if you are admitted to the "
    "hospital. "
    "Graduate students submit the form before the semester starts.\n\n"
    "## History\n\n"
    "The Pantanal is a pickup truck made by the Brazilian manufacturer Troller from 2006 to "
    "2008.Troller is a manufacturer of off-road vehicles in Brazil."
)
PASSAGE = Passage(id="policy#0", doc_id="policy", text=SOURCE, sha256=sha256_text(SOURCE))


def judge(question: str, answer: str):
    rules = RulesJudge(JudgeSpec(name="rules", provider="rules"))
    record = QARecord(id="r1", question=question, answer=answer)
    return asyncio.run(rules.judge(record, [PASSAGE])).verdict


def assert_cites(verdict, sentence: str, question: str, answer: str) -> None:
    """The verdict cites exactly ``sentence`` and the project's quote checker accepts it."""
    assert [c.quote for c in verdict.citations] == [sentence]
    check = verify_citations(verdict, {PASSAGE.id: PASSAGE}, question, answer)
    assert check.valid, check.problems


FLAGGED = [
    # a name of the source standing where the source has another one
    ("entity", "Who evaluates my transfer credit?",
     "OISS evaluates transfer credit within 4 weeks of receiving your official transcripts.",
     "The Registrar evaluates transfer credit within 4 weeks of receiving official transcripts.",
     Category.wrong_entity),
    ("entity", "Who do I appeal to?",
     "Send your appeal to the Registrar within 30 days of the cancellation notice.",
     "Appeals must be sent to the Office of Student Financial Aid within 30 days of the "
     "cancellation notice.", Category.wrong_entity),
    ("entity", "Where was the Pantanal made?",
     "The Pantanal is a pickup truck made by the Colombian manufacturer Troller.",
     "The Pantanal is a pickup truck made by the Brazilian manufacturer Troller from 2006 to "
     "2008.", Category.wrong_entity),
    # a statement of the source negated
    ("polarity", "Can I apply with Duolingo?",
     "The Duolingo English Test is not accepted for undergraduate admission.",
     "The Duolingo English Test is accepted for undergraduate admission.",
     Category.negated_rule),
    # a bound turned into its opposite around the same words
    ("quantifier", "What IELTS score do I need?",
     "Applicants must score at most 6.5 on the IELTS to be admitted.",
     "Applicants must score at least 6.5 on the IELTS to be admitted.", Category.wrong_number),
    ("quantifier", "When do graduate students submit the form?",
     "Graduate students submit the form after the semester starts.",
     "Graduate students submit the form before the semester starts.", Category.other),
    # a conditional rule stated for every case
    ("condition", "Do I pay at the emergency room?",
     "Every emergency room visit has a $150 copay.",
     "Emergency room visits have a $150 copay, which is waived if you are admitted to the "
     "hospital.", Category.overgeneralisation),
]


@pytest.mark.parametrize(("kind", "question", "answer", "sentence", "category"), FLAGGED,
                         ids=[f"{row[0]}-{n}" for n, row in enumerate(FLAGGED)])
def test_each_check_flags_and_cites_the_sentence_it_compared(kind, question, answer, sentence,
                                                             category):
    differences = Aligner([PASSAGE], question).differences(answer)
    assert [d.kind for d in differences] == [kind]
    assert differences[0].sentence.text == sentence
    verdict = judge(question, answer)
    assert verdict.label is Label.contradicted
    assert verdict.category is category
    assert_cites(verdict, sentence, question, answer)
    assert verdict.confidence < 0.9  # a heuristic reading: never as sure as a value conflict


PARAPHRASES = [
    ("Who evaluates my transfer credit?",
     "The Registrar evaluates your transfer credit within 4 weeks of getting official "
     "transcripts."),
    ("Who do I appeal to?",
     "Appeals go to the Office of Student Financial Aid within 30 days of the cancellation "
     "notice."),
    ("Where was the Pantanal made?",
     "Troller, a Brazilian manufacturer, made the Pantanal pickup truck from 2006 to 2008."),
    ("Can I apply with Duolingo?",
     "Yes, the Duolingo English Test is accepted for undergraduate admission."),
    ("What IELTS score do I need?",
     "You must score at least 6.5 on the IELTS to be admitted."),
    ("When do graduate students submit the form?",
     "Graduate students submit the form before the semester begins."),
    ("Do I pay at the emergency room?",
     "Emergency room visits have a $150 copay, waived if you are admitted to the hospital."),
    ("Do I always pay at the emergency room?",
     "Not always: every visit has a $150 copay unless you are admitted to the hospital."),
    ("Which manufacturer is in Brazil?",  # joins two sentences: no name was swapped
     "Troller is a Brazilian manufacturer of off-road vehicles in Brazil."),
]


@pytest.mark.parametrize(("question", "answer"), PARAPHRASES)
def test_correct_paraphrases_are_not_flagged(question, answer):
    assert Aligner([PASSAGE], question).differences(answer) == []
    verdict = judge(question, answer)
    assert verdict is None or verdict.label is not Label.contradicted


def test_glued_sentences_are_split_and_each_is_verbatim():
    texts = [s.text for s in evidence_sentences([PASSAGE])]
    assert "Troller is a manufacturer of off-road vehicles in Brazil." in texts
    assert any(t.endswith("from 2006 to 2008.") for t in texts)
    assert all(t in SOURCE for t in texts)


def test_an_abbreviation_is_not_a_swapped_name():
    source = Passage(id="d#0", doc_id="d", sha256="x",
                     text="The term was also used during the World War II period in the US.")
    answer = "The term was also used during the WW2 period in the US."
    assert Aligner([source]).differences(answer) == []


def test_a_name_found_nowhere_in_the_evidence_is_not_in_sources():
    source = ("\"Stricken\" was used as official theme for WWE's New Year's Revolution in 2006. "
              "It took place on January 8, 2006, at the Pepsi Arena in Albany.")
    evidence = Passage(id="d#0", doc_id="d", text=source, sha256=sha256_text(source))
    rules = RulesJudge(JudgeSpec(name="rules", provider="rules"))
    question = "Which band's song was the theme at the Pepsi Arena on January 8, 2006?"
    wrong = "In 2006, the Pepsi Arena used a song by Slipknot as the theme for New Year's " \
            "Revolution."
    record = QARecord(id="r", question=question, answer=wrong)
    verdict = rules.decide(record, [evidence])
    assert verdict is not None and verdict.label is Label.not_in_sources
    assert "Slipknot" in verdict.rationale
    right = record.model_copy(update={"answer": "\"Stricken\" was used as official theme for "
                                                "WWE's New Year's Revolution in 2006."})
    assert rules.decide(right, [evidence]).label is Label.supported


def rules_verdict(source: str, question: str, answer: str):
    evidence = Passage(id="d#0", doc_id="d", text=source, sha256=sha256_text(source))
    rules = RulesJudge(JudgeSpec(name="rules", provider="rules"))
    return rules.decide(QARecord(id="r", question=question, answer=answer), [evidence])


def test_a_sentence_one_evidence_sentence_states_is_verified_and_reactions_need_no_check():
    source = "New York City is also the most densely populated major city in the United States."
    question = "Tell me about New York."
    stated = "New York City is the most densely populated major city in the United States."
    verdict = rules_verdict(source, question, "Wow, that's amazing! " + stated
                            + " Have you been?")
    assert verdict is not None and verdict.label is Label.supported
    assert verdict.citations[0].quote == source
    # a claim or an opinion of its own, found nowhere in the source, is not a reaction
    for extra in (" Its mayor lives in Brooklyn.", " I loved living there."):
        unchecked = rules_verdict(source, question, stated + extra)
        assert unchecked is None or unchecked.label is not Label.supported, extra


def test_dropping_the_source_hedge_is_not_verified():
    source = "The term travel may originate from the Old French word travail."
    question = "Where does the word travel come from?"
    assert rules_verdict(source, question, "The term travel may originate from the Old "
                         "French word travail.").label is Label.supported
    sure = rules_verdict(source, question, "The term travel originates from the Old French "
                         "word travail.")
    assert sure is None or sure.label is not Label.supported


def test_a_roman_numeral_is_part_of_the_name():
    source = "The term was also used during the World War II period in the United States."
    verdict = rules_verdict(source, "When was it used?",
                            "The term was also used during the World War I period.")
    assert verdict is not None and verdict.label is Label.contradicted
    assert verdict.category is Category.wrong_entity
    assert verdict.citations[0].quote == source


def test_a_verified_value_does_not_vouch_for_a_name_the_source_never_pairs_with_it():
    source = ("Cooking Light is an American monthly food and lifestyle magazine founded in "
              "1987.Hot Rod is a monthly American car magazine devoted to hot rodding.")
    question = "Which magazine was founded in 1987, Cooking Light or Hot Rod?"
    assert rules_verdict(source, question, "Cooking Light was founded in 1987.").label \
        is Label.supported
    swapped = rules_verdict(source, question, "Hot Rod was founded in 1987.")
    assert swapped is None or swapped.label is not Label.supported


BIOGRAPHIES = ("Allan Dwan (3 April 1885 – 28 December 1981) was a Canadian-born film director."
               "George E. Marshall (December 29, 1891 – February 17, 1975) was an American film "
               "director.")


def test_a_comparison_is_checked_against_the_sources_dates_and_cites_both_sentences():
    question = "Who was born first, George Marshall or Allan Dwan?"
    verdict = rules_verdict(BIOGRAPHIES, question, "George Marshall was born earlier.")
    assert verdict is not None and verdict.label is Label.contradicted
    quotes = [c.quote for c in verdict.citations]
    assert quotes == [
        "George E. Marshall (December 29, 1891 – February 17, 1975) was an American film "
        "director.",
        "Allan Dwan (3 April 1885 – 28 December 1981) was a Canadian-born film director."]
    evidence = Passage(id="d#0", doc_id="d", text=BIOGRAPHIES, sha256=sha256_text(BIOGRAPHIES))
    assert verify_citations(verdict, {"d#0": evidence}, question).valid
    for right in ("Allan Dwan", "Allan Dwan was born first.",
                  "George Marshall was born later than Allan Dwan."):
        verdict = rules_verdict(BIOGRAPHIES, question, right)
        assert verdict is None or verdict.label is not Label.contradicted, right


def test_a_confident_answer_no_evidence_sentence_is_about_is_flagged_unanswerable():
    # every sentence shares a word or two with the answer (most of its words are in the
    # evidence), but none is about what it claims
    source = ("Rent is set by the housing board each year. The shuttle stops at the library. "
              "Campus staff are paid every month. Drivers need a licence.")
    question = "Who does my rent pay for?"
    invented = "Your monthly rent pays the shuttle drivers and library staff wages."
    verdict = rules_verdict(source, question, invented)
    assert verdict is not None and verdict.label is Label.not_in_sources
    assert verdict.category is Category.unanswerable
    # hedged, or about what the source says: not an unanswered confident claim
    for answer in ("I think your monthly rent pays the shuttle drivers and library staff wages.",
                   "The shuttle stops at the library."):
        verdict = rules_verdict(source, question, answer)
        assert verdict is None or verdict.category is not Category.unanswerable, answer


def test_an_inflected_word_is_the_same_word_but_a_different_noun_is_not():
    source = ("The ballet tells the story of Odette, a princess turned into a swan by an evil "
              "sorcerer's curse. The term travel may originate from the Old French word "
              "travail.")
    question = "Tell me about it."
    inflected = rules_verdict(source, question, "Oh wow! The term travel may have originated "
                              "from the Old French word travail.")
    assert inflected is not None and inflected.label is Label.supported
    swapped = rules_verdict(source, question, "The ballet tells the story of Odette, a "
                            "sorceress turned into a swan by an evil sorcerer's curse.")
    assert swapped is None or swapped.label is not Label.supported


def test_the_pronoun_i_is_not_a_roman_numeral():
    source = Passage(id="d#0", doc_id="d", sha256="x",
                     text="According to surveys in Europe and the U.S. , purple is the color "
                          "most often associated with royalty , magic , mystery and piety .")
    for answer in ("Well I do n't think so , because it is associated with royalty , magic , "
                   "mystery and piety .",
                   "In Europe I think purple is the color most often associated with royalty."):
        assert Aligner([source]).differences(answer) == [], answer


def test_an_a_or_b_answer_is_checked_against_the_sentence_stating_the_description():
    source = ("Cooking Light is an American monthly food and lifestyle magazine founded in "
              "1987.Hot Rod is a monthly American car magazine devoted to hot rodding.")
    question = ("Which magazine is an American monthly food and lifestyle magazine founded in "
                "1987, Cooking Light or Hot Rod?")
    verdict = rules_verdict(source, question, "Hot Rod was founded in 1987.")
    assert verdict is not None and verdict.label is Label.contradicted
    assert verdict.category is Category.wrong_entity
    assert [c.quote for c in verdict.citations] == [
        "Cooking Light is an American monthly food and lifestyle magazine founded in 1987.",
        "Hot Rod is a monthly American car magazine devoted to hot rodding."]
    evidence = Passage(id="d#0", doc_id="d", text=source, sha256=sha256_text(source))
    assert verify_citations(verdict, {"d#0": evidence}, question).valid
    for right in ("Cooking Light", "Cooking Light was founded in 1987."):
        verdict = rules_verdict(source, question, right)
        assert verdict is None or verdict.label is not Label.contradicted, right


def test_which_of_two_named_in_the_question_is_checked_like_a_or_b():
    source = ("El Nuevo Cojo Ilustrado is an American online Spanish language magazine "
              "published from Los Angeles.Golf Magazine is a monthly golf magazine owned by "
              "Time Inc.")
    question = ("El Nuevo Cojo and Golf Magazine are both special interest publications but "
                "which one is owned by Time Inc?")
    verdict = rules_verdict(source, question, "El Nuevo Cojo Ilustrado is owned by Time Inc.")
    assert verdict is not None and verdict.label is Label.contradicted
    assert verdict.citations[0].quote == ("Golf Magazine is a monthly golf magazine owned by "
                                          "Time Inc.")
    right = rules_verdict(source, question, "Golf Magazine is owned by Time Inc.")
    assert right is None or right.label is not Label.contradicted


def test_an_acronym_of_names_the_evidence_spells_out_is_not_an_unknown_name():
    source = Passage(id="d#0", doc_id="d", sha256="x",
                     text="Students are enrolled in the Northfield Student Health Plan. The term "
                          "was used during the World War II period.")
    aligner = Aligner([source])
    assert aligner.unknown_names("The NSHP covers it. It was used in the WW2 period.") == []
    assert aligner.unknown_names("The NHS covers it.") == ["NHS"]


@pytest.mark.parametrize(("answer", "category"), [
    ("International students must live on campus in their first year.",
     Category.invented_policy),
    ("Graduate students may submit the form before the semester starts.",
     Category.negated_rule),
])
def test_must_and_may_are_not_the_same_rule(answer, category):
    source = ("International students may live on campus in their first year. Graduate "
              "students must submit the form before the semester starts.")
    verdict = rules_verdict(source, "What are the rules?", answer)
    assert verdict is not None and verdict.label is Label.contradicted
    assert verdict.category is category
    for same in ("International students can live on campus in their first year.",
                 "Graduate students have to submit the form before the semester starts."):
        verdict = rules_verdict(source, "What are the rules?", same)
        assert verdict is None or verdict.label is not Label.contradicted, same
