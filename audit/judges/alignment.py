"""Claim-by-claim alignment: errors made of the source's own words.

Each sentence of an answer is aligned with the evidence sentence that best supports it (the
most shared content words, the answer's own names left out so that a swapped name cannot pull
the alignment towards itself), and the two are compared word by word (``difflib`` over word
stems). What differs is read as one of:

- ``entity``: a name in the answer stands where the evidence sentence holds another name
  ("OISS evaluates transfer credit" / "The Registrar evaluates transfer credit"), and no other
  evidence sentence states the answer's version;
- ``polarity``: the answer negates what the evidence sentence states, or the reverse, the rest
  of the sentence being the same ("is not accepted" / "is accepted");
- ``quantifier``: a bound, comparison or quantifier turned into its opposite around the same
  words (at least / at most, before / after, more / less, all / some);
- ``condition``: the evidence sentence makes the rule conditional (if, unless, except, as long
  as ...) and the answer states it for every case ("always", "every", "any") without the
  condition;
- ``comparison`` (``Aligner.comparison``): an "A or B" question answered with the one the
  source's dates put on the wrong side (first, older, later ...), or with the one whose
  sentences do not state what the question describes.

Each ``Difference`` carries the evidence sentence(s) it was compared with, verbatim, so it can
be cited. The same alignment says what the evidence does not hold (``unknown_names``: names
found nowhere in it; ``unanswered``: confident claims no evidence sentence is about) and when
a claim is verified (``verified``: one evidence sentence states it; ``grounded``: a verified
value does not vouch for words the source never pairs with it); ``asserted`` leaves out what
states nothing (questions, interjections). Pure and deterministic; the rules judge decides
what each finding is worth. Thresholds (``DEFAULTS``) were chosen on the development slices of
the labelled benchmarks only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from audit.judges.facts import (
    STOPWORDS,
    Quantity,
    content_words,
    extract_quantities,
    markdown_heading,
    sentence_spans,
    stem,
)
from core.models import Category, Passage

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’]*|\d+(?:[.,]\d+)*")  # as facts.content_words reads words
# Two sentences glued without a space ("...19th century.First for Women is ...").
_GLUED = re.compile(r"(?<=[a-z0-9)\"”]{2})\.(?=[A-Z][a-z])")
# Negations, read as one word so that "can't" / "cannot" / "can not" align ("can not").
_NEGATORS = frozenset({"not", "no", "never", "cannot", "none", "neither", "nor", "nothing",
                       "nobody", "nowhere", "n't"})
_NOT = "not"
_ROMAN = re.compile(r"^[IVX]{1,4}$")
# Words that make a statement uncertain: a claim that drops them says more than the source.
_HEDGE = re.compile(r"\b(?:may|might|could|possibly|perhaps|probably|likely|reportedly|"
                    r"believed|thought to|suggests?|allegedly)\b", re.I)
_CLITICS = frozenset({"re", "ve", "ll", "d", "m"})
_OPINION = re.compile(r"\b(?:I|we)\s+(?:think|believe|guess|heard|feel|suppose|hope|love|"
                      r"like|know)\b|\bin my (?:opinion|view)\b|\bmaybe\b", re.I)
# Words of a reaction, not of a claim ("Oh wow, really interesting!").
_INTERJECTIONS = frozenset("""yes yeah yep no nope wow oh hi hello hey sure ok okay great cool
    interesting thank thanks lol haha really awesome nice indeed right true well absolutely
    definitely agree exactly thing amazing""".split())
_NOT_NAMES = frozenset("""yes no i you your we our they their he she his her it its this that
    these those there here the a an if when while after before please also however
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split())
# Opposite readings of the same place in a sentence: (answer side, evidence side) groups.
_OPPOSITES = (
    ("bound", re.compile(r"\b(?:at least|minimum|or more|no less than|no fewer than)\b", re.I),
     re.compile(r"\b(?:at most|up to|maximum|or less|or fewer|no more than)\b", re.I)),
    ("order", re.compile(r"\b(?:before|earlier|prior to|sooner)\b", re.I),
     re.compile(r"\b(?:after|later)\b", re.I)),
    ("amount", re.compile(r"\b(?:more|greater|higher|larger|longer|above|over)\b", re.I),
     re.compile(r"\b(?:less|fewer|lower|smaller|shorter|below|under)\b", re.I)),
    ("scope", re.compile(r"\b(?:all|every|always|any|each)\b", re.I),
     re.compile(r"\b(?:some|only|certain|most|sometimes|several)\b", re.I)),
    ("modality", re.compile(r"\b(?:must|required|requires?|mandatory|ha(?:s|ve) to|needs? to|"
                            r"shall)\b", re.I),
     re.compile(r"\b(?:may|can|optional|allowed|permitted|eligible)\b", re.I)),
)
# What turning the source's word into its opposite is, by group and the answer's side.
_OPPOSITE_CATEGORY = {
    ("scope", True): Category.overgeneralisation, ("scope", False): Category.overgeneralisation,
    ("bound", True): Category.wrong_number, ("bound", False): Category.wrong_number,
    ("modality", True): Category.invented_policy,  # "must" where the source says "may"
    ("modality", False): Category.negated_rule,  # "may" where the source says "must"
}
_UNIVERSAL = re.compile(
    r"\b(?:always|every|everyone|any|all|whenever|regardless|no exceptions?|without (?:any )?"
    r"(?:exception|limit|restriction)s?|never|automatically|guaranteed?)\b", re.I)
_CONDITION = re.compile(
    r"\b(?:if|unless|only if|provided(?: that)?|as long as|except|only when|only after|"
    r"only for|only with|subject to|once)\b", re.I)
_CONDITION_END = re.compile(r"[,;:]|\bthen\b|$")

DEFAULTS = {
    "min_shared": 2,  # content words an evidence sentence must share to be aligned at all
    "min_share": 0.5,  # ... and this share of the claim's content words (names left out)
    "verify_share": 0.9,  # share of a claim's words one evidence sentence must hold to state it
    "verify_words": 3,  # ... and at least this many
    "max_span": 5,  # most content words one substitution may replace
    "unaligned_words": 3,  # a claim this long (names aside) that no sentence is about: unanswered
    # "A or B" without a comparison: the question's description (at least describe_words
    # words) must be stated by a sentence naming the other one (describe_share of the words)
    # with describe_margin words more than any sentence naming the chosen one
    "describe_words": 3,
    "describe_share": 0.5,
    "describe_margin": 2,
    "relevant_share": 0.3,  # "about" it: shares this share of its content words (names aside)
}


@dataclass(frozen=True)
class EvidenceSentence:
    """One sentence of an evidence passage, verbatim (``text`` occurs in ``passage.text``)."""

    passage: Passage
    text: str


@dataclass(frozen=True)
class Difference:
    """What an answer sentence changes in the evidence sentence it was aligned with."""

    kind: str  # entity, polarity, quantifier, condition, comparison
    claim: str  # the answer sentence
    answer_text: str  # the answer's words that differ
    evidence_text: str  # the evidence's words they replace (or the dropped condition)
    sentence: EvidenceSentence
    category: Category
    confidence: float
    also: tuple[EvidenceSentence, ...] = ()  # further sentences compared (a comparison's)


@dataclass(frozen=True)
class _Tokens:
    text: str
    keys: list[str]  # lower-cased stems, stop words kept (they hold the positions)
    words: list[str]  # as written
    names: list[bool]  # a capitalised name (not a sentence's first word, unless known)


def evidence_sentences(passages: list[Passage]) -> list[EvidenceSentence]:
    """Every sentence of ``passages``, glued sentences ("century.First") split apart."""
    out = []
    for passage in passages:
        for start, end in sentence_spans(passage.text):
            piece, pos = passage.text[start:end], 0
            for m in _GLUED.finditer(piece):
                out.append(EvidenceSentence(passage, piece[pos : m.end()].strip()))
                pos = m.end()
            out.append(EvidenceSentence(passage, piece[pos:].strip()))
    return [s for s in out if len(s.text) >= 8 and content_words(s.text)]


def _tokens(text: str, known_names: frozenset[str] = frozenset()) -> _Tokens:
    matches = list(_TOKEN.finditer(text))
    words = [m.group(0) for m in matches]
    keys = [_key(w) for w in words]
    names: list[bool] = []
    for i, (m, word, key) in enumerate(zip(matches, words, keys, strict=True)):
        first = i == 0 or bool(re.search(r"[.!?:]\s*$", text[matches[i - 1].end() : m.start()]))
        # "World War I", "Henry VIII": a numeral after a name ("Europe I think": a pronoun)
        if _ROMAN.match(word) and i and names[i - 1] and (word != "I" or i > 1 and names[i - 2]):
            keys[i] = "#" + word  # "World War I": a numeral, never the pronoun
            names.append(True)
            continue
        capital = (word[0].isupper() and len(word) > 1 and key not in _NOT_NAMES
                   and key not in STOPWORDS)
        names.append(capital and (not first or key in known_names or _acronym(word)))
    return _Tokens(text, keys, words, names)


def _key(word: str) -> str:
    word = word.lower().replace("’", "'")
    return _NOT if word in _NEGATORS or word.endswith("n't") else stem(word)


def _acronym(word: str) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", word)
    return len(letters) >= 2 and letters.isupper()


def _name_keys(tokens: _Tokens) -> frozenset[str]:
    return frozenset(k for k, is_name in zip(tokens.keys, tokens.names, strict=True) if is_name)


def known_names(texts: list[str]) -> frozenset[str]:
    """Words written capitalised somewhere other than at a sentence start in ``texts``."""
    return frozenset().union(*(_name_keys(_tokens(t)) for t in texts)) if texts else frozenset()


class Aligner:
    """Aligns answer sentences with evidence sentences and lists what differs."""

    def __init__(self, evidence: list[Passage], question: str = "",
                 params: dict[str, float] | None = None) -> None:
        self.params = {**DEFAULTS, **(params or {})}
        self.sentences = evidence_sentences(evidence)
        self.names = known_names([s.text for s in self.sentences])
        self.tokens = [_tokens(s.text, self.names) for s in self.sentences]
        self.question_words = frozenset(content_words(question))

    def unknown_names(self, answer: str) -> list[str]:
        """Names in ``answer`` that occur in no evidence sentence (as written); an acronym of
        names the evidence spells out ("WW2", "World War II") is not one; the words of values
        ("USD 1,250", "March 1") are the values checker's business, not names."""
        mine = _tokens(_without_values(answer), self.names)
        seen = frozenset().union(*(set(t.keys) for t in self.tokens)) if self.tokens else set()
        runs = [r for t in self.tokens for r in _initials(t)]
        return [w for w, k, is_name in zip(mine.words, mine.keys, mine.names, strict=True)
                if is_name and k not in seen
                and not (_acronym(w) and any(r.startswith(w.upper()) for r in runs))]

    def asserted(self, answer: str) -> str:
        """``answer`` with what asserts nothing blanked, offsets kept: questions, reactions made
        only of interjections ("Wow, that's interesting!", "Sure thing.") and Markdown headings
        ("## Oxford GMAT Requirements" names a topic, it states nothing about it)."""
        chars = list(answer)
        for start, end in sentence_spans(answer):
            sentence = answer[start:end]
            reaction = (set(content_words(sentence)) <= _INTERJECTIONS
                        and not any(_tokens(sentence, self.names).names)
                        and not extract_quantities(sentence))
            if sentence.endswith("?") or reaction or markdown_heading(answer, start):
                chars[start:end] = " " * (end - start)
        return "".join(chars)

    def grounded(self, claim: str, holding: list[tuple[str, str]]) -> bool:
        """True when every content word of ``claim`` occurs in the evidence and its names in
        a sentence holding a value it was checked by (``holding``: (evidence text, the value
        as written there)): a verified value does not vouch for a name or a word the source
        never pairs with it."""
        vocabulary = set().union(*(t.keys for t in self.tokens)) if self.tokens else set()
        claim = _without_values(claim)  # the values were checked already
        names = _name_keys(_tokens(claim, self.names))
        pieces = [t for s, t in zip(self.sentences, self.tokens, strict=True)
                  for text, value in holding if s.text in text and value in s.text]
        return set(content_words(claim)) <= vocabulary and any(
            names <= set(t.keys) for t in pieces)

    def unanswered(self, answer: str) -> int:
        """How many claims ``answer`` makes (questions and reactions aside) when no evidence
        sentence is about any of them and each is stated without hedge or opinion, else 0:
        a confident answer that the evidence retrieved does not give."""
        asserted = self.asserted(answer)
        claims = [asserted[a:b] for a, b in sentence_spans(asserted)
                  if content_words(asserted[a:b])]
        unanswered = bool(claims) and all(
            self._topical(c) >= self.params["unaligned_words"]
            and self.align(c, self.params["relevant_share"]) is None
            and not (_HEDGE.search(c) or _OPINION.search(c)) for c in claims)
        return len(claims) if unanswered else 0

    def _topical(self, claim: str) -> int:
        """How many content words ``claim`` has besides its names (what it says of them)."""
        return len(set(content_words(claim)) - _name_keys(_tokens(claim, self.names)))

    def verified(self, claim: str) -> bool:
        """True when one evidence sentence states ``claim``: it holds ``verify_share`` of the
        claim's content words and every name in it (at least ``verify_words`` words), and
        the comparison finds no difference."""
        aligned = self.align(claim)
        if aligned is None or self.differences(claim):
            return False
        if _HEDGE.search(aligned[0].text) and not _HEDGE.search(claim):
            return False  # "may originate from" stated as "is": more certain than the source
        # Values are the values checker's; interjections and clitics ("'re") state nothing.
        words = set(content_words(_without_values(claim))) - _INTERJECTIONS - _CLITICS
        stems = {_base(k) for k in aligned[1].keys}
        shared = {w for w in words if _base(w) in stems}  # "originated" / "originate"
        mine = _tokens(claim, self.names)
        return (len(shared) >= self.params["verify_words"]
                and _name_keys(mine) <= set(aligned[1].keys)
                and len(shared) >= self.params["verify_share"] * len(words)
                and not self._substitutes(mine, aligned[1], words - shared))

    def _substitutes(self, mine: _Tokens, theirs: _Tokens, missing: set[str]) -> bool:
        """True when a word of the claim the sentence lacks stands in place of one of the
        sentence's words ("a sorceress" for "a princess"): a change, not an addition."""
        for tag, i1, i2, j1, j2 in self._opcodes(mine, theirs):
            if tag == "replace" and missing & set(mine.keys[i1:i2]) and any(
                    k not in STOPWORDS for k in theirs.keys[j1:j2]):
                return True
        return False

    def align(self, claim: str, share: float | None = None
              ) -> tuple[EvidenceSentence, _Tokens] | None:
        """The evidence sentence that best supports ``claim``, or None when none shares
        ``share`` (default ``min_share``) of its content words, names left out."""
        mine = _tokens(claim, self.names)
        wanted = set(content_words(claim)) - _name_keys(mine)
        if not wanted:
            return None
        scored = [(len(wanted & set(t.keys)), i) for i, t in enumerate(self.tokens)]
        best, index = max(scored, default=(0, -1))
        share = self.params["min_share"] if share is None else share
        if best < min(self.params["min_shared"], len(wanted)) or best < share * len(wanted):
            return None
        return self.sentences[index], self.tokens[index]

    def differences(self, answer: str) -> list[Difference]:
        """What each sentence of ``answer`` changes in its best-supporting evidence sentence."""
        out: list[Difference] = []
        answer = self.asserted(answer)
        for start, end in sentence_spans(answer):
            claim = answer[start:end]
            aligned = self.align(claim)
            if aligned is None:
                continue
            sentence, theirs = aligned
            mine = _tokens(claim, self.names)
            found = (self._entity(claim, mine, sentence, theirs)
                     or self._polarity(claim, mine, sentence, theirs)
                     or self._opposite(claim, mine, sentence, theirs)
                     or self._condition(claim, mine, sentence, theirs))
            if found:
                out.append(found)
        return out

    def comparison(self, question: str, answer: str) -> Difference | None:
        """An "A or B" question answered with the wrong one: the one the source's dates put
        on the other side ("Who was born first, A or B?" / "B was born first." where A's date
        is earlier), or, without a comparison, the one whose sentences do not state what the
        question describes ("Which magazine was founded in 1987, A or B?" / "B" where the
        sentence saying "founded in 1987" names A and not B)."""
        pair = _alternatives(question)
        if pair is None:
            return None
        named = sorted((at, name) for at, name in ((_position(answer, n), n) for n in pair)
                       if at >= 0)
        if not named:
            return None
        chosen = named[0][1]
        other = pair[1] if chosen == pair[0] else pair[0]
        early, late = _EARLY.search(question), _LATE.search(question)
        if bool(early) == bool(late):
            return self._described(question, answer, chosen, other) if len(named) == 1 else None
        says_early = bool(early)
        if _LATE.search(answer) and not _EARLY.search(answer):
            says_early = False
        elif _EARLY.search(answer) and not _LATE.search(answer):
            says_early = True
        elif len(named) > 1:
            return None  # names both and compares neither ("the same age"): not read here
        mine, theirs = self._dated(chosen), self._dated(other)
        if mine is None or theirs is None or mine[0] == theirs[0]:
            return None
        if (mine[0] < theirs[0]) == says_early:
            return None
        return Difference("comparison", answer, f"{chosen} {'first' if says_early else 'later'}",
                          f"{mine[1].text} / {theirs[1].text}", mine[1], Category.wrong_date,
                          0.75, also=(theirs[1],))

    def _described(self, question: str, answer: str, chosen: str,
                   other: str) -> Difference | None:
        keys = {name: set(content_words(name)) for name in (chosen, other)}
        wanted = set(content_words(question)) - keys[chosen] - keys[other]
        if len(wanted) < self.params["describe_words"]:
            return None

        def best(name: str, rival: str) -> tuple[int, EvidenceSentence] | None:
            scored = [(len(wanted & set(t.keys)), s) for s, t in zip(self.sentences, self.tokens,
                                                                      strict=True)
                      if keys[name] <= set(t.keys) and not keys[rival] <= set(t.keys)]
            return max(scored, key=lambda x: x[0], default=None)

        mine, theirs = best(chosen, other), best(other, chosen)
        if theirs is None or theirs[0] < self.params["describe_share"] * len(wanted) \
                or theirs[0] - (mine[0] if mine else 0) < self.params["describe_margin"]:
            return None
        return Difference("comparison", answer, chosen, f"{other}: {theirs[1].text}",
                          theirs[1], Category.wrong_entity, 0.7,
                          also=(mine[1],) if mine else ())

    def _dated(self, name: str) -> tuple[tuple[int, int, int], EvidenceSentence] | None:
        """The first time point of the first evidence sentence naming ``name`` and a date."""
        keys = set(content_words(name))
        for sentence, tokens in zip(self.sentences, self.tokens, strict=True):
            if keys and keys <= set(tokens.keys):
                # the first date of the sentence (a birth, a founding), if it has a year
                dated = [q for q in extract_quantities(sentence.text)
                         if q.kind in ("year", "date")]
                point = _point(dated[0]) if dated else None
                if point is not None:
                    return point, sentence
        return None

    def _opcodes(self, mine: _Tokens, theirs: _Tokens) -> list[tuple[str, int, int, int, int]]:
        return list(SequenceMatcher(None, mine.keys, theirs.keys, autojunk=False).get_opcodes())

    def _entity(self, claim: str, mine: _Tokens, sentence: EvidenceSentence,
                theirs: _Tokens) -> Difference | None:
        their_keys, my_keys = set(theirs.keys), set(mine.keys)
        for tag, i1, i2, j1, j2 in self._opcodes(mine, theirs):
            if tag != "replace" or max(_size(mine, i1, i2),
                                       _size(theirs, j1, j2)) > self.params["max_span"]:
                continue
            ours = [i for i in range(i1, i2) if mine.names[i] and mine.keys[i] not in their_keys]
            other = [j for j in range(j1, j2)
                     if theirs.names[j] and theirs.keys[j] not in my_keys]
            if not ours or not other or self._stated_elsewhere(mine, sentence, ours) \
                    or _abbreviation(_names_in(mine, i1, i2), _names_in(theirs, j1, j2)):
                continue
            return Difference(
                "entity", claim, " ".join(mine.words[i] for i in ours),
                " ".join(theirs.words[j] for j in other), sentence, Category.wrong_entity, 0.8)
        return None

    def _stated_elsewhere(self, mine: _Tokens, sentence: EvidenceSentence,
                          ours: list[int]) -> bool:
        """True when another evidence sentence holds the answer's names with most of its
        other words: the answer joined two sentences, it did not swap a name."""
        names = {mine.keys[i] for i in ours}
        rest = set(content_words(mine.text)) - names
        return any(
            s is not sentence and names <= set(t.keys)
            and len(rest & set(t.keys)) >= 0.5 * len(rest)
            for s, t in zip(self.sentences, self.tokens, strict=True))

    def _polarity(self, claim: str, mine: _Tokens, sentence: EvidenceSentence,
                  theirs: _Tokens) -> Difference | None:
        """A negation added or dropped inside a stretch both sentences share."""
        opcodes = self._opcodes(mine, theirs)
        for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
            if tag == "equal" or max(i2 - i1, j2 - j1) > 3 or not _anchored(opcodes, n, mine,
                                                                            both=True):
                continue
            ours = mine.keys[i1:i2].count(_NOT)
            its = theirs.keys[j1:j2].count(_NOT)
            if ours % 2 != its % 2:
                said = "negates it" if ours else "states it without the negation"
                return Difference("polarity", claim, said, " ".join(theirs.words[j1:j2]) or
                                  "(affirmative)", sentence, Category.negated_rule, 0.75)
        return None

    def _opposite(self, claim: str, mine: _Tokens, sentence: EvidenceSentence,
                  theirs: _Tokens) -> Difference | None:
        opcodes = self._opcodes(mine, theirs)
        for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
            if tag != "replace" or max(i2 - i1, j2 - j1) > 3 or not _anchored(opcodes, n,
                                                                                     mine):
                continue
            # one shared word either side: "at least" / "at most" differ in their second word
            ours = " ".join(mine.words[max(0, i1 - 1) : i2 + 1])
            its = " ".join(theirs.words[max(0, j1 - 1) : j2 + 1])
            if _NOT in mine.keys[i1:i2] or _NOT in theirs.keys[j1:j2]:
                continue  # a negation: the polarity and modality checks read it
            for kind, one, other in _OPPOSITES:
                first = bool(one.search(ours) and other.search(its))
                if first or (other.search(ours) and one.search(its)):
                    category = _OPPOSITE_CATEGORY.get((kind, first), Category.other)
                    return Difference("quantifier", claim, ours, its, sentence, category, 0.75)
        return None

    def _condition(self, claim: str, mine: _Tokens, sentence: EvidenceSentence,
                   theirs: _Tokens) -> Difference | None:
        universal = _UNIVERSAL.search(claim)
        if universal is None:
            return None
        known = set(mine.keys) | self.question_words
        for m in _CONDITION.finditer(sentence.text):
            stop = _CONDITION_END.search(sentence.text, m.end())
            condition = sentence.text[m.start() : stop.start() if stop else None]
            words = set(content_words(condition))
            missing = words - known
            if words and len(missing) >= max(1, 0.5 * len(words)):
                return Difference("condition", claim, universal.group(0),
                                  condition.strip(), sentence, Category.overgeneralisation,
                                  0.7)
        return None


_EARLY = re.compile(r"\b(?:first|earlier|earliest|older|oldest|before|sooner|predates?)\b",
                    re.I)
_LATE = re.compile(r"\b(?:later|latest|younger|youngest|after|newer|newest|more recent|last)\b",
                   re.I)
_NAME_RUN = r"[A-Z][\w'’.-]*(?:\s+(?:(?:of|for|the|and|de|la)\s+)?[A-Z][\w'’.-]*)*"
_ALTERNATIVES = re.compile(rf"({_NAME_RUN})\s*,?\s+or\s+(?:the\s+)?({_NAME_RUN})")
_WHICH_OF_TWO = re.compile(rf"({_NAME_RUN})\s+and\s+(?:the\s+)?({_NAME_RUN})\b.*\bwhich\b", re.S)


def _alternatives(question: str) -> tuple[str, str] | None:
    """The two named alternatives of an "A or B" (or "A and B ... which one") question."""
    m = _ALTERNATIVES.search(question) or _WHICH_OF_TWO.search(question)
    return (m.group(1), m.group(2)) if m else None


def _position(text: str, name: str) -> int:
    """Where ``text`` first names ``name`` (all its content words within a few words), or -1."""
    keys = content_words(name)
    words = content_words(text)
    for i, word in enumerate(words):
        if word == keys[0] and set(keys) <= set(words[i : i + len(keys) + 2]):
            return i
    return -1


def _point(q: Quantity) -> tuple[int, int, int] | None:
    """A year or a dated day as (year, month, day); None for any other value."""
    if q.kind == "year":
        return int(q.values[0]), 0, 0
    if q.kind == "date" and len(q.values) == 1 and q.values[0][2]:
        month, day, year = q.values[0]
        return year, month, day or 0
    return None


_INFLECTION = re.compile(r"(?:ing|ed|es|s|d|e|ly)$")


def _base(word: str) -> str:
    """``word`` without one inflectional ending: "originated" and "originate" read alike,
    "sorceress" and "sorcerer" do not."""
    base = _INFLECTION.sub("", word)
    return base if len(base) >= 4 else word


def _names_in(tokens: _Tokens, start: int, end: int) -> list[str]:
    return [w for w, is_name in zip(tokens.words[start:end], tokens.names[start:end],
                                    strict=True) if is_name]


def _without_values(text: str) -> str:
    """``text`` with its values ("USD 1,250", "March 1") blanked, offsets kept."""
    chars = list(text)
    for q in extract_quantities(text):
        chars[q.start : q.end] = " " * (q.end - q.start)
    return "".join(chars)


def _initials(tokens: _Tokens) -> list[str]:
    """The initials of every run of names in ``tokens``, from each of its words on:
    "Northfield Student Health Plan" gives "NSHP", "SHP", "HP" and "P"."""
    out, run = [], ""
    for word, is_name in zip([*tokens.words, ""], [*tokens.names, False], strict=True):
        if is_name:
            run += word[0].upper()
            continue
        out += [run[i:] for i in range(len(run))]
        run = ""
    return out


def _abbreviation(ours: list[str], theirs: list[str]) -> bool:
    """True when one side may abbreviate the other ("WW2" / "World War II")."""
    def initials(words: list[str]) -> str:
        return "".join(w[0] for w in words if w[0].isupper())

    def capitals(words: list[str]) -> str:
        return "".join(c for w in words for c in w if c.isupper())

    a, b = capitals(ours), capitals(theirs)
    return bool(a and b) and (len(ours) == 1 < len(theirs) and initials(theirs).startswith(a)
                              or len(theirs) == 1 < len(ours) and initials(ours).startswith(b))


def _size(tokens: _Tokens, start: int, end: int) -> int:
    """Content words (stop words left out) in ``tokens[start:end]``."""
    return sum(key not in STOPWORDS for key in tokens.keys[start:end])


def _anchored(opcodes: list[tuple[str, int, int, int, int]], n: int, mine: _Tokens, *,
              both: bool = False) -> bool:
    """True when the change at ``opcodes[n]`` sits between content words both sentences share
    (or, unless ``both``, next to them at a sentence's edge)."""
    def shared(k: int) -> bool:
        if not 0 <= k < len(opcodes) or opcodes[k][0] != "equal":
            return False
        _, i1, i2, _, _ = opcodes[k]
        return any(key not in STOPWORDS and key != _NOT for key in mine.keys[i1:i2])

    before, after = shared(n - 1), shared(n + 1)
    if both:
        return before and after
    return before and after or (before or after) and len(opcodes) <= 3


__all__ = ["DEFAULTS", "Aligner", "Difference", "EvidenceSentence", "evidence_sentences",
           "known_names"]
