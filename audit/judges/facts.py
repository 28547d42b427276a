"""Checkable facts in text: amounts, percentages, dates, times, weekdays, durations, GPAs.

``extract_quantities`` finds each value with its span and a normalised value, so that
"$1,250", "1250 dollars" and "USD 1,250" compare equal, as do "March 1" / "1st of March",
"twenty hours" / "20 hours" and "12 months" / "one year". Everything here is pure and
deterministic; the rules judge builds its verdicts on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# --- words -------------------------------------------------------------------------------

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those there their they them you your yours we our us i me my he she
    his her him do does did done has have had having not no nor so than then too very can could
    may might must shall should will would about into over under up down out off only also just
    any all each every some such what which who whom whose when where why how yes own same other
    more most less least few many much one both either neither per via after before during while
    until within without between through than again once here am s t""".split()
)

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}
# Duration units in minutes; months and years use 30 and 365 days, compared with a tolerance.
_DURATION_MINUTES = {
    "minute": 1, "hour": 60, "day": 1440, "week": 10080, "month": 43200, "year": 525600,
}
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "k": 1e3}

_NUM_WORD = (
    r"(?:(?:" + "|".join(_TENS) + r")(?:[\s-](?:" + "|".join(k for k in _UNITS if k != "zero")
    + r"))?|" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")"
)
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_NUM = rf"(?:{_DIGITS}|{_NUM_WORD}(?:[\s-]hundred)?)"
_MONTH_RE = r"(?:January|February|March|April|May|June|July|August|September|October|" \
    r"November|December|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?)"
_ORD_WORD = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_DAY = rf"(?:(\d{{1,2}})(?:st|nd|rd|th)?|(?:the\s+)?({_ORD_WORD}))"
_HEDGES = re.compile(
    r"\b(?:about|approximately|approx|around|roughly|nearly|almost|some|over|under|"
    r"close to|estimated|more than|less than|fewer than|several|circa|c\.)\s*$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*|\d+(?:[.,]\d+)*")


def stem(word: str) -> str:
    """Harman's S-stemmer (plural endings only) after lower-casing: stable on policy text."""
    w = word.lower().replace("’", "'").removesuffix("'s")
    if len(w) > 3 and w.endswith("ies") and not w.endswith(("eies", "aies")):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("es") and not w.endswith(("aes", "ees", "oes")):
        return w[:-1]
    if len(w) > 2 and w.endswith("s") and not w.endswith(("us", "ss")):
        return w[:-1]
    return w


def content_words(text: str) -> list[str]:
    """Stems of the words of ``text`` that carry content (stop words dropped)."""
    out = []
    for m in _WORD.finditer(text):
        w = m.group(0).lower().replace("’", "'").removesuffix("'s")
        if w in STOPWORDS or (len(w) < 2 and not w.isdigit()):
            continue
        out.append(w.replace(",", "") if w[0].isdigit() else stem(w))
    return out


def parse_number(text: str) -> float | None:
    """``"1,250"`` → 1250.0, ``"twenty-one"`` → 21.0, ``"two hundred"`` → 200.0."""
    t = text.lower().strip().replace(",", "")
    try:
        return float(t)
    except ValueError:
        pass
    parts = re.split(r"[\s-]+", t)
    total = 0.0
    for part in parts:
        if part in _UNITS:
            total += _UNITS[part]
        elif part in _TENS:
            total += _TENS[part]
        elif part == "hundred":
            total = (total or 1) * 100
        else:
            return None
    return total


# --- quantities --------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """One checkable value found in a text.

    ``kind`` says what may be compared with what (``money``, ``percent``, ``date``, ``time``,
    ``weekday``, ``duration``, ``bduration`` (business days), ``gpa``, ``year``, ``count``,
    ``number``); ``values`` holds the alternative normalised readings (03/01 is March 1 or
    January 3); ``unit`` names what a count counts.
    """

    kind: str
    values: tuple
    start: int
    end: int
    text: str
    hedged: bool = False
    unit: tuple[str, ...] = field(default=())

    def equals(self, other: Quantity) -> bool:
        if not comparable(self, other):
            return False
        return any(_equal(self.kind, a, b) for a in self.values for b in other.values)


def comparable(a: Quantity, b: Quantity) -> bool:
    """True when two quantities measure the same kind of thing (counts: the same noun)."""
    if a.kind != b.kind:
        return False
    if a.kind == "count":
        return a.unit[0] in b.unit or b.unit[0] in a.unit
    return True


def _equal(kind: str, a, b) -> bool:
    if kind == "date":
        return a[0] == b[0] and _wild(a[1], b[1]) and _wild(a[2], b[2])
    if kind in ("duration", "bduration"):
        return abs(a - b) <= 0.04 * max(abs(a), abs(b))
    if kind == "gpa":
        return abs(a - b) < 1e-3
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _wild(a, b) -> bool:
    return a is None or b is None or a == b


# Spans that look numeric but are identifiers: e-mails, URLs, phone numbers, form names.
_NOISE = re.compile(
    r"\S+@\S+|https?://\S+|\(\d{3}\)\s*\d{3}-\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b|\b\d{3}-\d{4}\b"
    r"|\b[A-Z]{1,4}-\d+[A-Z]?\b|\b[A-Z]+\d+[A-Z\d]*\b|\b\d+(?:\.\d+){2,}\b"
)
_MONEY = re.compile(
    rf"(?:US\$|\$|\bUSD\s?)\s?({_DIGITS})(?:\s?(thousand|million|billion|k)\b)?"
    rf"|\b({_NUM})(?:\s(thousand|million|billion))?\s?(?:dollars?|USD)\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(rf"\b({_NUM})\s?(?:%|percent\b|per\s?cent\b)", re.IGNORECASE)
_DATE_MD = re.compile(rf"\b({_MONTH_RE})\s+{_DAY}\b(?:,?\s+(\d{{4}})\b)?")
_DATE_DM = re.compile(rf"\b{_DAY}\s+(?:of\s+)?({_MONTH_RE})(?:,?\s+(\d{{4}})\b)?")
_DATE_MY = re.compile(rf"\b({_MONTH_RE})\s+(?:of\s+)?(\d{{4}})\b")
_DATE_NUM = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TIME = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s?([ap])\.?\s?m\b\.?|\b(noon|midday|midnight)\b"
    r"|\b([01]?\d|2[0-3]):([0-5]\d)\b",
    re.IGNORECASE,
)
_WEEKDAY_NAME = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"
_WEEKDAY_RANGE = re.compile(
    rf"\b{_WEEKDAY_NAME}\s*(?:through|thru|to|until|till|-|–|—)\s*{_WEEKDAY_NAME}\b",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(rf"\b{_WEEKDAY_NAME}\b", re.IGNORECASE)
_DURATION = re.compile(
    rf"\b({_NUM})(?:\s|-)(?:(?:full|consecutive|calendar|academic|additional|more|extra|"
    rf"free|working|business)[\s-])?(minute|hour|day|week|month|year)s?\b(?![\s-]old)",
    re.IGNORECASE,
)
_GPA_NEAR = re.compile(r"\b(?:gpa|grade[\s-]point average|cgpa)\b", re.IGNORECASE)
_DECIMAL = re.compile(r"(?<![\d.$])\b([0-5]\.\d{1,2})\b(?!\d|\.\d|\s?%)")
_YEAR = re.compile(r"(?<![\d,.$])\b(1[5-9]\d\d|20\d\d)\b(?![.,]\d|\s?%)")
_GENERIC = re.compile(rf"(?<![\w.$,])({_DIGITS}|{_NUM_WORD})(?:\s(thousand|million|billion))?\b")
_CREDIT = re.compile(r"^[\s-]*(credit[\s-]hours?|credits?|semester[\s-]hours?)\b", re.I)


def extract_quantities(text: str) -> list[Quantity]:
    """Every checkable value in ``text``, in order of position."""
    taken: list[tuple[int, int]] = [m.span() for m in _NOISE.finditer(text)]
    found: list[Quantity] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    def add(q: Quantity, claim: bool = True) -> None:
        found.append(q)
        if claim:
            taken.append((q.start, q.end))

    for extractor in (_money, _percents, _dates, _times, _weekdays, _durations, _gpas):
        for q in extractor(text):
            if free(q.start, q.end):
                add(q)
    for m in _YEAR.finditer(text):
        if free(*m.span()) or _inside_date(found, m.start()):
            found.append(_q("year", (float(m.group(1)),), m, text))
            taken.append(m.span())
    for q in _generic(text):
        if free(q.start, q.end):
            add(q)
    return sorted(found, key=lambda q: (q.start, q.kind))


def _inside_date(found: list[Quantity], pos: int) -> bool:
    return any(q.kind == "date" and q.start <= pos < q.end for q in found)


def _q(kind: str, values: tuple, m: re.Match, text: str, unit: tuple[str, ...] = ()) -> Quantity:
    start, end = m.span()
    return Quantity(kind, values, start, end, text[start:end], _hedged(text, start), unit)


def _hedged(text: str, start: int) -> bool:
    return bool(_HEDGES.search(text[max(0, start - 16) : start]))


def _money(text: str) -> list[Quantity]:
    out = []
    for m in _MONEY.finditer(text):
        number, scale = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = parse_number(number)
        if value is None:
            continue
        value *= _SCALES.get((scale or "").lower(), 1.0)
        out.append(_q("money", (value,), m, text))
    return out


def _percents(text: str) -> list[Quantity]:
    out = []
    for m in _PERCENT.finditer(text):
        value = parse_number(m.group(1))
        if value is not None:
            out.append(_q("percent", (value,), m, text))
    return out


def _day(digits: str | None, word: str | None) -> int | None:
    day = int(digits) if digits else _ORDINALS.get((word or "").lower())
    return day if day and 1 <= day <= 31 else None


def _month(name: str) -> int:
    return _MONTHS[name.lower().rstrip(".")]


def _dates(text: str) -> list[Quantity]:
    out = []
    for m in _DATE_MD.finditer(text):
        day = _day(m.group(2), m.group(3))
        if day:
            year = int(m.group(4)) if m.group(4) else None
            out.append(_q("date", ((_month(m.group(1)), day, year),), m, text))
    for m in _DATE_DM.finditer(text):
        day = _day(m.group(1), m.group(2))
        if day:
            year = int(m.group(4)) if m.group(4) else None
            out.append(_q("date", ((_month(m.group(3)), day, year),), m, text))
    for m in _DATE_MY.finditer(text):
        out.append(_q("date", ((_month(m.group(1)), None, int(m.group(2))),), m, text))
    for m in _DATE_NUM.finditer(text):
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        y = y + 2000 if y < 100 else y
        readings = tuple((mm, dd, y) for mm, dd in ((a, b), (b, a)) if 1 <= mm <= 12 and dd <= 31)
        if readings:
            out.append(_q("date", readings, m, text))
    for m in _DATE_ISO.finditer(text):
        y, mm, dd = (int(g) for g in m.groups())
        if 1 <= mm <= 12 and 1 <= dd <= 31:
            out.append(_q("date", ((mm, dd, y),), m, text))
    # Longest match first, so "March 1, 2026" wins over "March 2026"-style partial readings.
    return sorted(out, key=lambda q: (q.start, -(q.end - q.start)))


def _times(text: str) -> list[Quantity]:
    out = []
    for m in _TIME.finditer(text):
        if m.group(4):
            minutes = 0 if m.group(4).lower() == "midnight" else 720
        elif m.group(3):
            hour = int(m.group(1))
            if not 1 <= hour <= 12:
                continue
            minutes = (hour % 12 + (12 if m.group(3).lower() == "p" else 0)) * 60
            minutes += int(m.group(2) or 0)
        else:
            minutes = int(m.group(5)) * 60 + int(m.group(6))
        out.append(_q("time", (float(minutes),), m, text))
    return out


def _weekdays(text: str) -> list[Quantity]:
    out = []
    for m in _WEEKDAY_RANGE.finditer(text):
        a, b = _WEEKDAYS[m.group(1).lower()], _WEEKDAYS[m.group(2).lower()]
        days = [(a + i) % 7 for i in range((b - a) % 7 + 1)]
        out.append(_q("weekday", tuple(float(d) for d in days), m, text))
    for m in _WEEKDAY.finditer(text):
        out.append(_q("weekday", (float(_WEEKDAYS[m.group(1).lower()]),), m, text))
    return out


def _durations(text: str) -> list[Quantity]:
    out = []
    for m in _DURATION.finditer(text):
        value = parse_number(m.group(1))
        if value is None or _YEAR.fullmatch(m.group(1)):
            continue
        business = re.search(r"\b(business|working)\b", m.group(0), re.IGNORECASE)
        kind = "bduration" if business else "duration"
        unit = m.group(2).lower()
        if _CREDIT.match(text[m.end() :]) or (unit == "hour" and "credit" in m.group(0).lower()):
            continue  # "3 credit hours" is a count of credits, not a duration
        out.append(_q(kind, (value * _DURATION_MINUTES[unit],), m, text))
    return out


def _gpas(text: str) -> list[Quantity]:
    out = []
    for m in _DECIMAL.finditer(text):
        window = text[max(0, m.start() - 40) : m.end() + 40]
        if _GPA_NEAR.search(window):
            out.append(_q("gpa", (float(m.group(1)),), m, text))
    return out


def _generic(text: str) -> list[Quantity]:
    out = []
    for m in _GENERIC.finditer(text):
        value = parse_number(m.group(1))
        if value is None:
            continue
        value *= _SCALES.get((m.group(2) or "").lower(), 1.0)
        after = text[m.end() :]
        credit = _CREDIT.match(after)
        unit = ("credit",) if credit else _unit_after(after)
        if unit:
            out.append(_q("count", (value,), m, text, unit))
        elif m.group(1)[0].isdigit():
            out.append(_q("number", (value,), m, text))
    return out


def _unit_after(after: str) -> tuple[str, ...]:
    """Stems of up to three content words right after a number (what it counts)."""
    words: list[str] = []
    for m in re.finditer(r"[^\w\s]|[A-Za-z]+(?:-[A-Za-z]+)?|\d\S*", after[:60]):
        token = m.group(0)
        if not token[0].isalpha():
            break
        low = token.lower()
        if low in STOPWORDS:
            if not words:
                return ()
            continue
        words.append(stem(low))
        if len(words) == 3:
            break
    return tuple(words)


# --- sentences ---------------------------------------------------------------------------

_ABBREVIATIONS = re.compile(
    r"(?:\b(?:[ap]\.m|e\.g|i\.e|etc|vs|approx|no|nos|dr|mr|mrs|ms|prof|st|jr|sr|inc|ltd|co|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|u\.s|u\.k|ph\.d|[a-z])\.)$",
    re.IGNORECASE,
)
_BOUNDARY = re.compile(r"[.!?]+[\"'’”)\]]*(?=\s+|$)|\n\s*\n\s*|\n")
_LINE_START = re.compile(r"\s*(?:[-*+#|>•]|\d+[.)]\s)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of ``text``; ``text[start:end]`` is stripped."""
    spans = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if m.group(0) == "\n" and not _line_break_ends_sentence(text, start, m.start()):
            continue  # a wrapped line (PDF text): the sentence goes on
        abbreviation = _ABBREVIATIONS.search(text[start:end]) if m.group(0)[0] == "." else None
        if abbreviation:
            following = re.match(r"\s*([A-Za-z]+)", text[end:])
            word = following.group(1) if following else ""
            if (
                not word[:1].isupper()
                or word.lower() in _MONTHS
                or word.lower().rstrip("s") in _WEEKDAYS
                or not re.search(r"(?:[ap]\.m|u\.s|u\.k|etc)\.$", abbreviation.group(0), re.I)
            ):
                continue
        spans.append(_strip_span(text, start, end))
        start = end
    spans.append(_strip_span(text, start, len(text)))
    return [(s, e) for s, e in spans if e - s > 1 and re.search(r"\w", text[s:e])]


_MARKDOWN_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]")


def markdown_heading(text: str, start: int) -> bool:
    """True when the sentence at ``start`` (a ``sentence_spans`` start) is a Markdown heading
    ("## Oxford GMAT Requirements"): it names a topic and states nothing about it."""
    return bool(_MARKDOWN_HEADING.match(text, text.rfind("\n", 0, start) + 1))


def _line_break_ends_sentence(text: str, start: int, newline: int) -> bool:
    """A single newline ends a sentence before a list item, heading or table row, or after a
    short unpunctuated line (a title); otherwise it is a wrapped line."""
    if _LINE_START.match(text, newline + 1) or _LINE_START.match(text, start):
        return True
    line = text[text.rfind("\n", 0, newline) + 1 : newline].strip()
    following = text[newline + 1 : newline + 2]
    return len(line) < 60 and not line.endswith((",", ";")) and following.isupper()


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\n\r-*|#>":
        start += 1
    while end > start and text[end - 1] in " \t\n\r|":
        end -= 1
    return start, end


# --- modality (what a rule obliges, permits or forbids) ----------------------------------

FORBIDDEN, OPTIONAL, REQUIRED, PERMITTED = "forbidden", "optional", "required", "permitted"

_MODALS = (
    (FORBIDDEN, r"may not|must not|mustn'?t|cannot|can ?not|can'?t|shall not|will not be|"
     r"(?:is|are|be)\s+not\s+(?:allowed|permitted|eligible|accepted|available|offered|valid)|"
     r"not (?:allowed|permitted|eligible|accepted)|prohibited|forbidden|ineligible|"
     r"no longer (?:be )?(?:accepted|allowed|available|permitted|eligible|offered|valid)|"
     r"not able to|unable to"),
    (OPTIONAL, r"not required|not mandatory|optional|need not|needn'?t|"
     r"(?:do|does|did)(?: not|n'?t) (?:need|have) to|(?:do|does)(?: not|n'?t) need|"
     r"no need|not necessary|not needed|not obligatory|is not a requirement"),
    (REQUIRED, r"must|required|requires?|mandatory|ha(?:s|ve) to|needs? to|needs? an?|"
     r"shall|obligated|obliged|is compulsory"),
    (PERMITTED, r"may|can|allowed|permitted|eligible|able to|accepted|available|allows?"),
)
_MODAL_RE = [
    (label, re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)) for label, pattern in _MODALS
]
MODAL_WORDS = frozenset(
    stem(w)
    for w in """must required require requires mandatory need needs needed necessary optional
    may can cannot allowed permitted eligible ineligible able unable accepted available allow
    allows prohibited forbidden shall obligated obliged compulsory longer not no never
    requirement""".split()
)
CONFLICTS = {
    frozenset({REQUIRED, OPTIONAL}),
    frozenset({PERMITTED, FORBIDDEN}),
    frozenset({REQUIRED, FORBIDDEN}),
}
_CLAUSE = re.compile(
    r";|:|\(|\)|,?\s+but\s+|,\s+(?:while|whereas|though|except|unless|which|who|so|"
    r"because|since|if|when|although|even though|even if)\s+|\s+even though\s+|\s+although\s+",
    re.IGNORECASE,
)


def clause_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the clauses of ``text[start:end]`` (split at ; : but while whereas)."""
    out, pos = [], start
    for m in _CLAUSE.finditer(text, start, end):
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, end))
    return [(s, e) for s, e in out if e > s]


def modality(clause: str) -> str | None:
    """Whether ``clause`` forbids, makes optional, requires or permits something; None when
    it states no rule, or rules of more than one kind (too tangled to compare safely)."""
    claimed: list[tuple[int, int]] = []
    labels = set()
    for label, pattern in _MODAL_RE:  # stronger phrases first: "may not" before "may"
        for m in pattern.finditer(clause):
            if all(m.end() <= a or m.start() >= b for a, b in claimed):
                claimed.append(m.span())
                labels.add(label)
    return labels.pop() if len(labels) == 1 else None
