"""Deterministic extractors for values whose shape a regex knows better than a 270M model.

Every extractor returns ``Mention`` objects carrying the character span of the
input they came from, so the fill result can cite its evidence. Nothing here
invents a value: no span, no value.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Mention:
    """A value found in the text and where (``text[start:end]``)."""

    value: object
    start: int
    end: int


EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"])}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
MONTHS["sept"] = 9
_MON = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
        r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
DATE_PATTERNS = [
    re.compile(r"\b(?P<year>(?:19|20)\d{2})-(?P<m>[01]?\d)-(?P<d>[0-3]?\d)\b"),
    re.compile(r"\b(?P<a>[0-3]?\d)[/.](?P<b>[0-3]?\d)[/.](?P<year>(?:19|20)\d{2})\b"),
    re.compile(rf"\b{_MON}\s+{_DAY},?\s+{_YEAR}\b", re.I),
    re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MON},?\s+{_YEAR}\b", re.I),
]
RELATIVE = {"today": 0, "yesterday": -1, "tomorrow": 1}
PHONE_RE = re.compile(r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,6}){1,4}(?![\w-])")
CODE_RE = re.compile(r"(?<![\w@.])#?(?P<code>[A-Z]{1,4}-?\d{3,}[A-Z0-9-]*|\d{5,}(?:-[A-Z0-9]+)*)(?![\w@])")
NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen", "twenty"])}
NUMBER_WORDS.update({"a couple of": 2, "both": 2, "single": 1, "alone": 1, "myself": 1})
NUMBER_RE = re.compile(r"(?<![\w.,/:-])(\d{1,6})(?![\w.,/:-]|\.\d|,\d)|\b(" + "|".join(
    sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True)) + r")\b", re.I)


def emails(text: str) -> list[Mention]:
    """E-mail addresses in order of appearance (trailing dots excluded)."""
    return [Mention(m.group(0), m.start(), m.end()) for m in EMAIL_RE.finditer(text)]


def _valid(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def dates(text: str, today: dt.date | None = None, dayfirst: bool = False) -> list[Mention]:
    """Calendar dates as ISO strings. ``a/b/yyyy`` is month-first unless a>12 or ``dayfirst``."""
    found: list[Mention] = []
    taken: list[tuple[int, int]] = []
    for pat in DATE_PATTERNS:
        for m in pat.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            g = m.groupdict()
            year = int(g["year"])
            if "m" in g and g.get("m"):
                d = _valid(year, int(g["m"]), int(g["d"]))
            elif g.get("a"):
                a, b = int(g["a"]), int(g["b"])
                month, day = (b, a) if (dayfirst or a > 12) and b <= 12 else (a, b)
                d = _valid(year, month, day)
            else:
                mon = g["mon"].lower().rstrip(".")
                d = _valid(year, MONTHS.get(mon, MONTHS.get(mon[:3], 0)), int(g["day"]))
            if d:
                found.append(Mention(d.isoformat(), m.start(), m.end()))
                taken.append((m.start(), m.end()))
    if today is not None:
        for word, delta in RELATIVE.items():
            for m in re.finditer(rf"\b{word}\b", text, re.I):
                if not any(s <= m.start() < e for s, e in taken):
                    d = today + dt.timedelta(days=delta)
                    found.append(Mention(d.isoformat(), m.start(), m.end()))
    return sorted(found, key=lambda x: x.start)


def _overlaps(start: int, end: int, spans: list[Mention]) -> bool:
    return any(s.start < end and start < s.end for s in spans)


def phones(text: str) -> list[Mention]:
    """Phone-like digit groups (>= 7 digits) that are not dates."""
    blocked = dates(text)
    out = []
    for m in PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 7 <= len(digits) <= 15 and not _overlaps(m.start(), m.end(), blocked):
            out.append(Mention(m.group(0).strip(), m.start(), m.end()))
    return out


def codes(text: str) -> list[Mention]:
    """Order/reference codes such as ``AB-48213`` or ``#PR-77120`` (letters+digits)."""
    blocked = dates(text) + phones(text) + emails(text)
    return [Mention(m.group("code"), m.start("code"), m.end("code")) for m in CODE_RE.finditer(text)
            if not _overlaps(m.start(), m.end(), blocked)]


def numbers(text: str) -> list[Mention]:
    """Small integers (digits or words) that are not part of dates, phones, codes, e-mails, money."""
    blocked = dates(text) + phones(text) + codes(text) + emails(text)
    out = []
    for m in NUMBER_RE.finditer(text):
        if _overlaps(m.start(), m.end(), blocked):
            continue
        raw = m.group(0)
        value = int(raw) if raw.isdigit() else NUMBER_WORDS[raw.lower()]
        after = text[m.end():m.end() + 6].lower()
        if re.match(r"\s*(%|am\b|pm\b|euros?|dollars?|usd|eur|gbp|h\b|hours?\b|minutes?\b)", after):
            continue
        out.append(Mention(value, m.start(), m.end()))
    return out
