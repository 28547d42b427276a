"""Plant labelled errors in a controlled share of answers.

The changes are the realistic ones seen in synthetic advising data: a changed number, amount
or date, a negated rule, a swapped entity, a dropped condition (over-generalisation) and an
invented policy. Truth labels are written separately and never shown to a judge.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ConfigError
from core.models import QARecord

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
_MONTH = re.compile(r"\b(" + "|".join(MONTHS) + r")\s+(\d{1,2})\b")
_DAY_MONTH = re.compile(r"\b(\d{1,2})\s+(" + "|".join(MONTHS) + r")\b")
_PHONE = re.compile(r"\(?\d{3}\)?[ -]?\d{3}-\d{4}")
# An amount: not part of a time (9:00), a code (F-1, I-20), a date (3/1) or a word.
_NUMBER = re.compile(r"(?<![\w.:/-])(\$?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?![\w:/]|-\d)")
_NEGATIONS = [
    (r"\bmust not\b", "may"), (r"\bmay not\b", "may"), (r"\bcannot\b", "can"),
    (r"\bcan['’]t\b", "can"),
    (r"\bis not required\b", "is required"), (r"\bare not required\b", "are required"),
    (r"\bmust\b", "do not need to"), (r"\bis required\b", "is not required"),
    (r"\bare required\b", "are not required"), (r"\bcan\b", "cannot"), (r"\bmay\b", "may not"),
]
_CONDITION = re.compile(
    r",?\s*\b(only if|unless|provided that|as long as|except|if you|once you|but only)\b[^.;]*",
    re.IGNORECASE,
)
_ENTITY = re.compile(
    r"\b[\w.+-]+@[\w-]+\.[\w.]+\b|\b(?:Office|Department|Center|Centre) of [A-Z][\w ]+?\b(?=[,.;]|$)"
    r"|\bForm [A-Z0-9-]+\b|\bI-\d{2,3}\b"
)
INVENTED = [
    "Students who miss this deadline automatically receive a one-time 30-day extension.",
    "This rule is waived for students with a GPA of 3.5 or higher.",
    "A $75 processing fee is refunded if the request is approved.",
    "Graduate students are exempt from this requirement.",
    "The office also accepts these requests by text message.",
]


@dataclass
class PlantedLabel:
    id: str
    label: str  # "error" or "correct"
    kind: str | None
    original_answer: str
    planted_answer: str
    detail: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def _shift_number(match: re.Match, rng: random.Random) -> str:
    dollar, digits, decimals, percent = match.groups()
    value = float(digits.replace(",", "") + (decimals or ""))
    factor = rng.choice([0.5, 0.75, 1.5, 2.0])
    new = value * factor if value > 4 else value + rng.choice([1, 2, 3])
    if new == value:
        new = value + 1
    if decimals:
        text = f"{new:.{len(decimals) - 1}f}"
    else:
        new = int(round(new))
        text = f"{new:,}" if "," in digits else str(new)
    return f"{dollar}{text}{percent}"


def change_number(answer: str, rng: random.Random) -> tuple[str, str] | None:
    # Years, phone numbers and day-of-month numbers are not amounts.
    skip = [m.span() for m in (*_PHONE.finditer(answer), *_MONTH.finditer(answer),
                               *_DAY_MONTH.finditer(answer))]
    matches = [
        m for m in _NUMBER.finditer(answer)
        if not re.fullmatch(r"(19|20)\d\d", m.group(2))
        and not any(a <= m.start() < b for a, b in skip)
    ]
    if not matches:
        return None
    match = rng.choice(matches)
    new = _shift_number(match, rng)
    return answer[: match.start()] + new + answer[match.end():], f"{match.group(0)} -> {new}"


def change_date(answer: str, rng: random.Random) -> tuple[str, str] | None:
    matches = [*_MONTH.finditer(answer), *_DAY_MONTH.finditer(answer)]
    if not matches:
        return None
    match = rng.choice(sorted(matches, key=lambda m: m.start()))
    day_first = match.group(1).isdigit()
    old_month = match.group(2) if day_first else match.group(1)
    month = MONTHS[(MONTHS.index(old_month) + rng.choice([1, 2, -1])) % 12]
    day = match.group(1) if day_first else match.group(2)
    new = f"{day} {month}" if day_first else f"{month} {day}"
    return answer[: match.start()] + new + answer[match.end():], f"{match.group(0)} -> {new}"


def negate_rule(answer: str, rng: random.Random) -> tuple[str, str] | None:
    for pattern, replacement in _NEGATIONS:
        match = re.search(pattern, answer)
        if match:
            return (answer[: match.start()] + replacement + answer[match.end():],
                    f"{match.group(0)} -> {replacement}")
    return None


def overgeneralise(answer: str, rng: random.Random) -> tuple[str, str] | None:
    match = _CONDITION.search(answer)
    if not match or len(match.group(0)) < 8:
        return None
    return answer[: match.start()] + answer[match.end():], f"dropped {match.group(0).strip()!r}"


def invent_policy(answer: str, rng: random.Random) -> tuple[str, str] | None:
    sentence = rng.choice(INVENTED)
    return answer.rstrip() + " " + sentence, f"added {sentence!r}"


def swap_entity_from(pool: list[str]) -> Callable[[str, random.Random], tuple[str, str] | None]:
    def swap_entity(answer: str, rng: random.Random) -> tuple[str, str] | None:
        matches = list(_ENTITY.finditer(answer))
        for match in rng.sample(matches, len(matches)):
            others = [e for e in pool if e != match.group(0)]
            if others:
                new = rng.choice(others)
                return answer[: match.start()] + new + answer[match.end():], f"{match.group(0)} -> {new}"
        return None

    return swap_entity


def plant_errors(
    records: list[QARecord], rate: float, seed: int = 0
) -> tuple[list[QARecord], list[PlantedLabel]]:
    """Return (records with ``round(rate * n)`` planted errors, one label per record)."""
    if not 0 < rate <= 1:
        raise ConfigError(f"--rate should be in (0, 1], got {rate}")
    rng = random.Random(seed)
    pool = sorted({m.group(0) for r in records for m in _ENTITY.finditer(r.answer)})
    mutations: dict[str, Callable] = {
        "wrong_number": change_number,
        "wrong_date": change_date,
        "negated_rule": negate_rule,
        "wrong_entity": swap_entity_from(pool),
        "overgeneralisation": overgeneralise,
        "invented_policy": invent_policy,
    }
    target = round(rate * len(records))
    order = rng.sample(range(len(records)), len(records))
    planted: dict[int, tuple[str, str, str]] = {}
    counts = dict.fromkeys(mutations, 0)
    for i in order:
        if len(planted) == target:
            break
        # Of the kinds that apply to this answer, take the least used so far: the planted
        # errors spread over kinds instead of piling onto the one that always applies.
        options = {}
        for kind, mutate in mutations.items():
            result = mutate(records[i].answer, rng)
            if result and result[0].strip() != records[i].answer.strip():
                options[kind] = result
        if options:
            kind = min(options, key=lambda k: (counts[k], list(mutations).index(k)))
            counts[kind] += 1
            planted[i] = (kind, *options[kind])
    if len(planted) < target:
        raise ConfigError(
            f"could plant only {len(planted)} of {target} errors: too few answers with numbers,"
            " dates, rules or entities to change"
        )
    out, labels = [], []
    for i, record in enumerate(records):
        if i in planted:
            kind, answer, detail = planted[i]
            out.append(record.model_copy(update={"answer": answer}))
            labels.append(PlantedLabel(record.id, "error", kind, record.answer, answer, detail))
        else:
            out.append(record)
            labels.append(PlantedLabel(record.id, "correct", None, record.answer, record.answer, ""))
    return out, labels
