"""Deterministic extractors for values whose shape a regex knows better than a 270M model.

Every extractor returns ``Mention`` objects carrying the character span of the
input they came from, so the fill result can cite its evidence. Nothing here
invents a value: no span, no value.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V", covariant=True)


@dataclass(frozen=True)
class Mention(Generic[V]):
    """A value found in the text and where (``text[start:end]``); ``V`` is what the extractor yields."""

    value: V
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
    re.compile(r"\b(?P<year>(?:19|20)\d{2})([-/.])(?P<m>[01]?\d)\2(?P<d>[0-3]?\d)\b"),
    re.compile(r"\b(?P<a>[0-3]?\d)([/.-])(?P<b>[0-3]?\d)\2(?P<year>(?:19|20)\d{2})\b"),
    re.compile(rf"\b{_MON}\s+{_DAY},?\s+{_YEAR}\b", re.I),
    re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MON},?\s+{_YEAR}\b", re.I),
]
RELATIVE = {"today": 0, "yesterday": -1, "tomorrow": 1}
PHONE_RE = re.compile(r"(?<![\w-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,8}){1,4}(?![\w-])"
                      r"|(?<![\w-])(?:\+\d{1,3}[\s-]?)?[6-9]\d{9}(?![\w-])")
CODE_RE = re.compile(r"(?<![\w@.])#?(?P<code>[A-Z]{1,4}-?\d{3,}[A-Z0-9-]*|\d{5,}(?:-[A-Z0-9]+)*)(?![\w@])")
#: ISO 4217 codes and currency words/signs that mark a number as money (before or after it).
CURRENCY_CODES = ("INR|USD|EUR|GBP|JPY|CNY|RMB|PLN|GHS|KES|NGN|ARS|SGD|AUD|CAD|CHF|AED|SAR|ZAR|BRL|MXN|"
                  "SEK|NOK|DKK|CZK|HUF|TRY|RUB|KRW|IDR|MYR|THB|PHP|VND|PKR|BDT|LKR|NPR|EGP|NZD|HKD|TWD|ILS")
NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen", "twenty"])}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
NUMBER_WORDS.update(_TENS)
NUMBER_WORDS.update({f"{t}{sep}{u}": tv + uv for t, tv in _TENS.items() for u, uv in list(NUMBER_WORDS.items())[1:10]
                     for sep in ("-", " ")})  # 'twenty-two', 'forty five'
NUMBER_WORDS.update({"a couple of": 2, "both": 2})
#: Words that say "one" only of people ('just myself', 'travelling alone'): a count of guests may read
#: them, a count of rooms or days may not ('a single room' is no quantity of rooms).
ONE_PERSON_RE = re.compile(r"\b(?:myself|alone|single|solo)\b", re.I)
NUMBER_RE = re.compile(r"(?<![\w.,/:-])(\d{1,2}(?:,\d{2})+,\d{3}|\d{1,3}(?:,\d{3})+|\d{1,6})"
                       r"(?![\w.,/:-]|\.\d|,\d)|\b(" + "|".join(
    sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True)) + r")\b", re.I)


def emails(text: str) -> list[Mention[str]]:
    """E-mail addresses in order of appearance (trailing dots excluded)."""
    return [Mention(m.group(0), m.start(), m.end()) for m in EMAIL_RE.finditer(text)]


def _valid(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def dates(text: str, today: dt.date | None = None, dayfirst: bool = False) -> list[Mention[str]]:
    """Calendar dates as ISO strings. ``a/b/yyyy`` is month-first unless a>12 or ``dayfirst``."""
    found: list[Mention] = []
    taken = DisjointSpans()
    for pat in DATE_PATTERNS:
        for m in pat.finditer(text):
            if taken.overlaps(m.start(), m.end()):
                continue
            g = m.groupdict()
            year = int(g["year"])
            if "m" in g and g.get("m"):
                d = _valid(year, int(g["m"]), int(g["d"]))
            elif g.get("a"):
                a, b = int(g["a"]), int(g["b"])
                # dots separate day.month.year (no one writes month.day.year with dots)
                first = dayfirst or a > 12 or m.group(2) == "."
                month, day = (b, a) if first and b <= 12 else (a, b)
                d = _valid(year, month, day)
            else:
                mon = g["mon"].lower().rstrip(".")
                d = _valid(year, MONTHS.get(mon, MONTHS.get(mon[:3], 0)), int(g["day"]))
            if d:
                found.append(Mention(d.isoformat(), m.start(), m.end()))
                taken.add(m.start(), m.end())
    if today is not None:
        for word, delta in RELATIVE.items():
            for m in re.finditer(rf"\b{word}\b", text, re.I):
                if not taken.overlaps(m.start(), m.start() + 1):
                    d = today + dt.timedelta(days=delta)
                    found.append(Mention(d.isoformat(), m.start(), m.end()))
    return sorted(found, key=lambda x: x.start)


#: Currencies of places that write the day first (India, the UK, the euro area, ...).
_DAY_FIRST_MONEY = re.compile(r"₹|(?<![A-Za-z])(?:Rs\.?|INR|GBP|EUR|AUD|NZD|ZAR)(?![A-Za-z])|[£€]")


def writes_day_first(text: str) -> bool:
    """Whether a text's a/b/yyyy dates are day first: one of them cannot be month first ('23/08/2025'),
    or its money is in a currency of a day-first country (and no dollar sign, which US dates go with)."""
    for m in DATE_PATTERNS[1].finditer(text):
        if int(m.group("a")) > 12 and int(m.group("b")) <= 12:
            return True
    return bool(_DAY_FIRST_MONEY.search(text)) and "$" not in text and "USD" not in text


def _overlaps(start: int, end: int, spans: list[Mention]) -> bool:
    return any(s.start < end and start < s.end for s in spans)


class SpanIndex:
    """Spans sorted for overlap queries in O(log n): on a long, code-dense text a linear scan per
    candidate made the extractors quadratic (20,000 characters took seconds)."""

    def __init__(self, spans: Iterable[Any]) -> None:
        pairs = sorted((s.start, s.end) for s in spans)
        self.starts = [a for a, _ in pairs]
        self.max_end: list[int] = []
        for _, b in pairs:
            self.max_end.append(max(b, self.max_end[-1]) if self.max_end else b)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether any span overlaps [start, end): of the spans starting before ``end``, one ends after ``start``."""
        i = bisect.bisect_left(self.starts, end)
        return i > 0 and self.max_end[i - 1] > start


class DisjointSpans:
    """A growing set of spans that never overlap one another (each is added only where it overlaps
    none), so their ends are as sorted as their starts: overlap queries and inserts by bisection
    (a text of 1,500 dates took seconds with a scan per candidate). :class:`SpanIndex` is the fixed
    set of spans that may overlap."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether a span overlaps [start, end): the last one starting before ``end`` ends after ``start``."""
        i = bisect.bisect_left(self.starts, end)
        return i > 0 and self.ends[i - 1] > start


def phones(text: str) -> list[Mention[str]]:
    """Phone-like digit groups (>= 7 digits) that are not dates."""
    blocked = dates(text)
    out = []
    for m in PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 7 <= len(digits) <= 15 and not _overlaps(m.start(), m.end(), blocked):
            out.append(Mention(m.group(0).strip(), m.start(), m.end()))
    return out


#: Groups of capitals or digits joined by '-', '/' or '.', or by single spaces between a letter and a
#: digit group ('MH 12 AB 1234'): one alphanumeric code is never cut in half.
_GROUP = r"(?:[A-Z]{1,5}|\d{1,10})"
LONG_CODE_RE = re.compile(
    rf"(?<![\w@.])#?(?P<code>{_GROUP}(?:(?:[-/.]| (?=[A-Z0-9]))?{_GROUP}){{0,6}})(?![\w@]|[.,]\d)")
#: Capitals that label a code or mark money rather than belong to one ('ID 88123', 'USD 890').
NOT_CODE_PART = {"ID", "NO", "NR", "REF", "AWB", "PO", "SN", "TEL", "PH", "ORDER", "BIB", "CARD", "LIC",
                  *CURRENCY_CODES.split("|")}


def _long_codes(text: str) -> list[Mention[str]]:
    out = []
    for m in LONG_CODE_RE.finditer(text):
        # a space may only join a letter group to a digit group (or back), short groups only:
        # 'CC 4410', 'KA 05 MN 2231', not 'AB CD'; what is left after a break is scanned again
        parts, start = re.split(r"( )", m.group("code")), m.start("code")
        while parts:
            while len(parts) > 1 and parts[0].isalpha() and \
                    (parts[0] in NOT_CODE_PART or len(parts[0]) > 4 or len(parts[2]) > 4):
                start += len(parts[0]) + 1
                parts = parts[2:]
            keep, used = parts[0], 1
            for sep, part in zip(parts[1::2], parts[2::2], strict=False):
                prev = re.split(r"[-/. ]", keep)[-1]
                mixed = bool(re.search(r"[A-Z]", keep)) and bool(re.search(r"\d", keep))
                same_type = prev[-1:].isdigit() == part[:1].isdigit() and not re.search(r"\d[A-Z]$", prev)
                if (same_type and not mixed) or part in NOT_CODE_PART or max(len(prev), len(part)) > 4:
                    break
                keep += sep + part
                used += 2
            clean = keep.rstrip(".-/")
            has_letter, has_digit = bool(re.search(r"[A-Z]", clean)), bool(re.search(r"\d", clean))
            if (has_letter and has_digit and len(re.sub(r"\W", "", clean)) >= 4) or \
                    (re.fullmatch(r"[\d-]+", clean) and len(re.sub(r"\D", "", clean)) >= 5):
                out.append(Mention(clean, start, start + len(clean)))
            start += len(keep) + 1
            parts = parts[used + 1:]
    return out


def codes(text: str) -> list[Mention[str]]:
    """Order/reference/registration codes: ``AB-48213``, ``#PR-77120``, ``MH12AB1234``,
    ``KA 05 MN 2231``, ``INV/2024/0087`` (letters and digits, or 5+ digits), whole."""
    blocked = SpanIndex(dates(text) + phones(text) + emails(text) + amounts(text))
    found = [Mention(m.group("code"), m.start("code"), m.end("code")) for m in CODE_RE.finditer(text)]
    longs = sorted(_long_codes(text), key=lambda m: m.start)
    if longs:
        index = SpanIndex(longs)  # a short code inside a long one gives way to it
        found = [f for f in found if not (index.overlaps(f.start, f.end) and
                                          any(m.start <= f.start and f.end <= m.end for m in longs))]
        kept, added, reach = SpanIndex(found), [], -1
        for m in longs:  # a long code that overlaps no short one nor an earlier long one
            if not kept.overlaps(m.start, m.end) and m.start >= reach:
                added.append(m)
                reach = m.end
        found += added
    return sorted((m for m in found if not blocked.overlaps(m.start, m.end) and not _MEASURE_RE.fullmatch(m.value)),
                  key=lambda m: m.start)


#: A decimal number with one letter before or after it is a measurement ('101.2 F', 'T 37.8'), not a code.
_MEASURE_RE = re.compile(r"(?:[A-Z]\s?)?\d+\.\d+(?:\s?[A-Z])?")


#: Number words with their multipliers ('two hundred', 'one lakh twenty thousand', 'a hundred and ten').
MULTIPLIERS = {"hundred": 100, "thousand": 1000, "lakh": 100_000, "lakhs": 100_000, "lac": 100_000,
               "crore": 10_000_000, "crores": 10_000_000, "million": 1_000_000}
_NW = "|".join(sorted((re.escape(w) for w in NUMBER_WORDS if w not in ("a couple of", "both", "zero")),
                      key=len, reverse=True))
WORDED_RE = re.compile(rf"\b(?:{_NW}|a)(?:(?:\s+|-)(?:and\s+)?(?:{_NW}|{'|'.join(MULTIPLIERS)}))+\b", re.I)


def worded_numbers(text: str) -> list[Mention[int]]:
    """Numbers written in words with a multiplier ('Two hundred guests' 200, 'one hundred and ten' 110,
    'one lakh twenty thousand' 120000, 'fifty thousand rupees' 50000); words alone are NUMBER_RE's."""
    out = []
    for m in WORDED_RE.finditer(text):
        words = [w for w in re.split(r"[\s-]+", m.group(0).lower()) if w != "and"]
        if not any(w in MULTIPLIERS for w in words) or words[0] in MULTIPLIERS:
            continue
        total = current = 0
        for w in words:
            if w == "hundred":
                current = (current or 1) * 100
            elif w in MULTIPLIERS:
                total += (current or 1) * MULTIPLIERS[w]
                current = 0
            else:
                current += 1 if w == "a" else NUMBER_WORDS[w]
        out.append(Mention(total + current, m.start(), m.end()))
    return out


def numbers(text: str) -> list[Mention[int]]:
    """Small integers (digits or words) that are not part of dates, phones, codes, e-mails, money;
    numbers in words with a multiplier ('two hundred') as one number."""
    worded = worded_numbers(text)
    blocked = SpanIndex(dates(text) + phones(text) + codes(text) + emails(text) + worded)
    out = list(worded)
    for m in NUMBER_RE.finditer(text):
        if blocked.overlaps(m.start(), m.end()):
            continue
        raw = m.group(0)
        digits = raw.replace(",", "")
        value = int(digits) if digits.isdigit() else NUMBER_WORDS[raw.lower()]
        after = text[m.end():m.end() + 6].lower()
        if re.match(r"\s*(%|am\b|pm\b|euros?|dollars?|usd|eur|gbp|h\b|hours?\b|minutes?\b)", after):
            continue
        if not digits.isdigit() and _no_count(text, m.start(), m.end()):
            continue
        out.append(Mention(value, m.start(), m.end()))
    return out


_WORD_RUN = re.compile(r"\b(?:" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True)) +
                       r")\b", re.I)


def _no_count(text: str, start: int, end: int) -> bool:
    """Whether a number word counts nothing: 'one of the guests' picks one of many, and a run of number
    words ('twenty-four seven', 'one, two, three') is an idiom or a list, not one number."""
    if text[start:end].lower() == "one" and re.match(r"\s+of\b", text[end:], re.I):
        return True
    return bool(re.match(r"[\s,]+" + _WORD_RUN.pattern, text[end:], re.I) or
                re.search(_WORD_RUN.pattern + r"[\s,]+$", text[max(0, start - 20):start], re.I))


def one_person_mentions(text: str) -> list[Mention[int]]:
    """'myself', 'alone', 'single', 'solo' as the number 1 — for fields that count people only."""
    return [Mention(1, m.start(), m.end()) for m in ONE_PERSON_RE.finditer(text)]


# -- amounts, ages, schema patterns, labelled values --------------------------------------------
#: ISO codes count in capitals and as whole words only ('weighs 14 kg' holds no GHS).
_CODES = rf"(?<![A-Za-z])(?-i:{CURRENCY_CODES})(?![A-Za-z])"
_CUR_BEFORE = (rf"(?:(?:US|A|C|S|NZ|HK|R)?\$|[₹€£¥₦₵₱₩₪₽]|(?<![A-Za-z])Rs\.?|{_CODES}\.?)")
_CUR_AFTER = (rf"(?:{_CODES}|[₹€£¥$]|rupees?|dollars?|euros?|pounds?|yen|yuan|naira|cedis?|"
              r"shillings?|pesos?|francs?|dirhams?|riyals?|rand|ringgit|baht|won|/-)")
#: A number as amounts write it. Dots group thousands only from a non-zero first group ('70.000',
#: '1.250,50'; '0.125' is a decimal); decimals run to their last digit ('$0.125' is not '$0.12').
_DOT_THOUSANDS = r"[1-9]\d{0,2}(?:\.\d{3})+(?:,\d{1,2})?"
_AMOUNT_NUM = (r"(?:[1-9]\d{0,2}(?:\.\d{3})+(?![\d.])(?:,\d{1,2})?"
               r"|(?:\d{1,2}(?:,\d{2})+,\d{3}|\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?![\d])")
_SCALE = r"(?:\s?(?P<scale>lakhs?|lacs?|crores?|million|mn|k)\b)?"
AMOUNT_RE = re.compile(
    rf"(?P<cur1>{_CUR_BEFORE})\s?(?P<n1>{_AMOUNT_NUM}){_SCALE.replace('scale', 'scale1')}"
    rf"|(?<![\w.,/-])(?P<n2>{_AMOUNT_NUM}){_SCALE.replace('scale', 'scale2')}\s?(?P<cur2>{_CUR_AFTER})(?![a-z])"
    rf"|(?<![\w.,/-])(?P<n3>{_AMOUNT_NUM})\s?(?P<scale3>lakhs?|lacs?|crores?|LPA)\b",
    re.I)
SCALES = {"lakh": 100_000, "lac": 100_000, "crore": 10_000_000, "million": 1_000_000, "mn": 1_000_000,
          "k": 1_000}


def _number(raw: str, sign: str = "") -> int | float:
    """'1,25,000' -> 125000, '1,240.50' -> 1240.5 (grouping commas of any style are dropped);
    '70.000' and '1.250,50' (dots grouping thousands, a comma for cents) -> 70000, 1250.5.
    After a dollar or pound sign a dot is a decimal point unless comma cents follow ('$1.250' is
    1.25, '$1.250,00' is 1250): those currencies are written with decimal points."""
    point_currency = any(c in sign for c in "$£")
    if re.fullmatch(_DOT_THOUSANDS, raw) and not (point_currency and "," not in raw):
        raw = raw.replace(".", "").replace(",", ".")
    value = float(raw.replace(",", ""))
    return int(value) if value.is_integer() else value


def amounts(text: str) -> list[Mention[int | float]]:
    """Money: a number next to a currency sign, code or word (Indian lakh grouping, thousands
    separators, decimals, 'lakh'/'crore'/'million' scales). Values are numbers, spans cover the sign."""
    out = []
    for m in AMOUNT_RE.finditer(text):
        raw = m.group("n1") or m.group("n2") or m.group("n3")
        scale = (m.group("scale1") or m.group("scale2") or m.group("scale3") or "").lower().rstrip("s")
        scale = "lakh" if scale == "lpa" else scale
        value = _number(raw, m.group("cur1") or "") * SCALES.get(scale, 1)
        value = int(value) if float(value).is_integer() else value
        out.append(Mention(value, m.start(), m.end()))
    for w in worded_numbers(text):  # 'twenty thousand euro', 'Rs. fifty thousand'
        after = re.match(rf"\s?{_CUR_AFTER}(?![a-z])", text[w.end:], re.I)
        before = re.search(rf"{_CUR_BEFORE}\s?$", text[:w.start], re.I)
        start, end = (w.start - len(before.group(0)) if before else w.start), w.end + (after.end() if after else 0)
        lakhs = re.search(r"(?i)\b(?:lakhs?|lac|crores?)\b", text[w.start:w.end])  # as 'N lakh' is money
        if (after or before or lakhs) and not _overlaps(start, end, out):
            out.append(Mention(w.value, start, end))
    return out


AGE_PATTERNS = [
    re.compile(r"\b(?P<n>\d{1,3})[- ](?:years?|yrs?)[- ]old\b", re.I),
    re.compile(r"\b(?P<n>\d{1,3})\s?(?:y/o|y\.o\.|yo|yrs?|years?)\b(?!\s*(?:ago|of|experience|in|with|at))",
               re.I),
    re.compile(r"\((?:\s*[MF]\s*[,/]\s*)(?P<n>\d{1,3})\s*\)|\(\s*(?P<n2>\d{1,3})\s*[,/]?\s*[MF]\s*\)"),
    re.compile(r"\b(?:aged?|age\s*:)\s*(?P<n>\d{1,3})\b", re.I),
    re.compile(r"(?<![\w.,-])(?P<n>\d{1,3}),\s*(?:male|female|man|woman|boy|girl|non-binary|[MF])\b"),
    re.compile(r"\b(?:male|female|man|woman|non-binary|[MF]),\s*(?P<n>\d{1,3})(?!\w|[.,]\d)"),
    re.compile(r"(?<![\d.,])\b(?P<n>\d{1,3})\s?(?P<sex>[MF])\b(?![-\w])"),
    # 'I'm 72, I hope...', 'she is 8.': a bare number right after "I am" is an age
    re.compile(r"\b(?i:I['\u2019]?m|I am|he['\u2019]?s|she['\u2019]?s|he is|she is)\s+(?P<n>\d{1,3})"
               r"(?=\s*(?:[,;)!]|\.(?!\d)|and\b|$))"),
    # 'Driver: James Whitfield, 41, UK licence': a name, then its age between commas
    # (not a street before its house number: 'to Calle Mayor, 25, Madrid', 'at Oak Lane, 12, Leeds')
    re.compile(r"(?<!\bto )(?<!\bat )(?<!\bin )(?<!\bon )(?<!\bfrom )(?<!\bnear )(?<!\bvia )(?<!\binto )"
               r"\b[A-Z][a-z]+ [A-Z][\w'\u2019-]+,\s+(?P<n>\d{1,2})(?=\s*(?:,|\)|and\b))"),
]


def ages(text: str) -> list[Mention[int]]:
    """Ages written the way people and clinicians write them: '67-year-old', '72 y/o', '(M, 40)',
    'aged 40', '45, M', 'female, 23', '40M'."""
    out: list[Mention] = []
    for pat in AGE_PATTERNS:
        for m in pat.finditer(text):
            group = "n" if m.group("n") else "n2"
            value = int(m.group(group))
            if 0 < value < 125 and not _overlaps(m.start(), m.end(), out):
                out.append(Mention(value, m.start(group), m.end(group)))
    return sorted(out, key=lambda x: x.start)


def pattern_matches(text: str, pattern: str) -> list[Mention[str]]:
    """Where a JSON Schema ``pattern`` matches inside the text (anchors dropped, token-bounded).
    A pattern Python's ``re`` cannot compile finds nothing."""
    body = pattern[1:] if pattern.startswith("^") else pattern
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    try:
        rx = re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])")
        full = re.compile(pattern)
    except re.error:
        return []
    return [Mention(m.group(0), m.start(), m.end()) for m in rx.finditer(text)
            if m.group(0) and full.search(m.group(0))]


#: Words that open a sentence or a sign-off, never a name: a short form's dot before one ends the value
#: or address part ('14 Baker St. Please call', 'Street: Elm St. Thanks', 'Mohd. Regards, Ali').
SENTENCE_OPENERS = ("I", "We", "You", "He", "She", "It", "They", "The", "This", "That", "These", "Those", "My",
                    "Our", "Your", "His", "Her", "Their", "Please", "Kindly", "Thanks", "Thank", "Call", "Can",
                    "Could", "Would", "Will", "Also", "There", "If", "As", "So", "But", "And", "Regards", "Best",
                    "Dear", "Hi", "Hello", "Cheers", "Sincerely", "Yours", "Warm", "Kind", "In", "On", "At")
_OPENER = r"(?:" + "|".join(SENTENCE_OPENERS) + r")\b"
#: A dot after an initial, an honorific or a short form of a name ('St.', 'Mohd.') ends nothing when a
#: name runs on after it ('Ref: Dr. Ines Moura', 'Name: J. Okoro', "Hospital: St. Mary's"); before
#: anything else it does ('Grade: B. The exam ...', 'Street: Elm Dr. Call me').
_NO_STOP = "".join(rf"(?<!\b{w})" for w in ("(?-i:[A-Z])", "Dr", "Mr", "Mrs", "Ms", "Mx", "Prof", "Capt", "Col",
                                             "Gen", "Lt", "Sgt", "Rev", "Fr", "Sr", "Jr", "Smt", "Shri",
                                             "(?-i:St)", "(?-i:Mt)", "(?-i:Ft)", "(?-i:Mohd)", "(?-i:Md)"))
_NAME_WORD = r"(?:[A-Z][\w'\u2019-]+|[A-Z]\.)"
_NAME_AFTER = rf"(?-i:\s+(?!{_OPENER}){_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}}(?=\s*(?:[,;)|\n]|\.(?:\s|$)|$)))"
_LABEL_END = (rf"(?=\s*(?:[;|\n]|,(?!\d{{2,3}}\b)|(?:{_NO_STOP}\.|\.(?!{_NAME_AFTER}))(?:\s|$)|"
              r"\s[-\u2013\u2014]\s|$))")


def labelled_values(text: str, label: str) -> list[Mention[str]]:
    """'Label: value' (or 'Label = value') pairs for a label (its words in order, any separator);
    the value runs to the next comma, semicolon, bar, line break or sentence end (not to the dot of
    an initial or honorific a name runs on after: 'Name: K. Rao')."""
    words = [re.escape(w) for w in re.split(r"[\s_/-]+", label.strip()) if w]
    if not words:
        return []
    rx = re.compile(r"(?<![\w-])" + r"[\s_/-]*".join(words) +  # 'Co-signer:' labels no signer
                    r"(?:\s*(?:no\.?|number|#))?\s*[:=]\s*(?P<v>[^\s,;|\n](?:[^,;|\n]|,(?=\d{2,3}\b))*?)" +
                    _LABEL_END, re.I)
    return [Mention(m.group("v").strip(), m.start("v"), m.start("v") + len(m.group("v").strip()))
            for m in rx.finditer(text)]


# -- quantities: numbers with the unit written after them ----------------------------------------
#: Canonical unit -> (dimension, size in the dimension's base unit, spellings after a number). Units
#: of one dimension convert ('two-week notice' is 14 days); temperatures keep their own scale.
UNITS: dict[str, tuple[str, float, str]] = {
    "minute": ("time", 1 / 1440, r"min(?:ute)?s?"),
    "hour": ("time", 1 / 24, r"h(?:ou)?rs?|h"),
    "day": ("time", 1, r"days?|d"),
    "week": ("time", 7, r"weeks?|wks?"),
    "fortnight": ("time", 14, r"fortnights?"),
    "month": ("time", 30, r"months?|mos?"),
    "year": ("time", 365, r"years?|yrs?|y"),
    "km": ("km", 1, r"km|kms|kilomet(?:er|re)s?"),
    "mile": ("mile", 1, r"miles?|mi"),
    "m": ("m", 1, r"m|met(?:er|re)s?"),
    "cm": ("cm", 1, r"cm|cms|centimet(?:er|re)s?"),
    "mm": ("mm", 1, r"mm|millimet(?:er|re)s?"),
    "kg": ("mass", 1, r"kg|kgs|kilo(?:gram)?s?"),
    # a bare 't' only in small letters and not before a hyphen ('40 T-shirts', '3 t-shirts' weigh nothing)
    "tonne": ("mass", 1000, r"(?-i:t)(?![-\w])|tonnes?|tons?|(?-i:MT)"),
    "g": ("mass", 0.001, r"g|gms?|grams?"),
    "lb": ("lb", 1, r"lbs?"),
    "litre": ("litre", 1, r"l|lit(?:er|re)s?|ltrs?"),
    "percent": ("percent", 1, r"%|per ?cent|pct"),
    "celsius": ("temperature", 1, r"°\s?C|º\s?C|C|deg(?:rees?)? ?C|celsius"),
    "fahrenheit": ("temperature", 1, r"°\s?F|º\s?F|F|deg(?:rees?)? ?F|fahrenheit"),
    "kwh": ("kwh", 1, r"kwh"),
}
#: Words of a field's name/title/description that name its unit.
UNIT_WORDS = {"minutes": "minute", "mins": "minute", "min": "minute", "hours": "hour", "hrs": "hour", "hr": "hour",
              "days": "day", "day": "day", "weeks": "week", "wks": "week", "months": "month", "month": "month",
              "years": "year", "yrs": "year", "year": "year", "km": "km", "kms": "km", "kilometres": "km",
              "kilometers": "km", "miles": "mile", "cm": "cm", "mm": "mm", "kg": "kg", "kgs": "kg", "kilograms": "kg",
              "grams": "g", "lbs": "lb", "lb": "lb", "litres": "litre", "liters": "litre", "percent": "percent",
              "pct": "percent", "percentage": "percent", "temperature": "celsius", "temp": "celsius",
              "celsius": "celsius", "fahrenheit": "fahrenheit", "kwh": "kwh", "tonnes": "tonne", "tons": "tonne"}
_QNUM = r"\d{1,2}(?:,\d{2})+,\d{3}|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
_QWORD = "|".join(sorted((re.escape(w) for w in [*NUMBER_WORDS, "a", "an", "half a", "a dozen"]),
                         key=len, reverse=True))
_UNIT_ALT = "|".join(f"(?P<u_{k}>{rx})" for k, (_, _, rx) in UNITS.items())
QUANTITY_RE = re.compile(
    rf"(?<![\w.,/:-])(?:(?P<num>{_QNUM})(?P<k>k)?|(?P<word>{_QWORD}))(?P<sep>\s?-?\s?)(?:{_UNIT_ALT})(?![A-Za-z])"
    r"|(?<![\w.,/:-])(?P<bare>" + _QNUM + r")(?![\w/:-]|[.,]\d)", re.I)
_WORD_VALUES = {**NUMBER_WORDS, "a": 1, "an": 1, "half a": 0.5, "a dozen": 12}


@dataclass(frozen=True)
class Quantity:
    """A number in the text, with the unit written right after it (``unit`` None when there is none)."""

    value: float
    unit: str | None
    start: int
    end: int


def quantities(text: str) -> list[Quantity]:
    """Every number with its unit ('58.5 kg', '101.2 F', 'two-week', '18 hours', 'a week'); bare
    numbers too ('2,400'). Number words count only before a unit (alone they are too often not
    quantities: 'one of us'). Spans inside dates, phones, e-mails and codes are left out."""
    blocked = dates(text) + phones(text) + emails(text) + codes(text)
    out: list[Quantity] = _compound_quantities(text, blocked)
    for m in QUANTITY_RE.finditer(text):
        if _overlaps(m.start(), m.end(), blocked) or any(q.start < m.end() and m.start() < q.end for q in out):
            continue
        unit = next((k[2:] for k, v in m.groupdict().items() if k.startswith("u_") and v), None)
        if m.group("bare"):
            raw = m.group("bare")
            value: float = float(raw.replace(",", ""))
        elif m.group("num"):
            value = float(m.group("num").replace(",", "")) * (1000 if m.group("k") else 1)
        else:
            value = _WORD_VALUES[m.group("word").lower()]
        if unit in ("celsius", "fahrenheit") and len(m.group(f"u_{unit}")) == 1 and not m.group("num"):
            continue  # 'a F' is no temperature
        if unit in ("day", "year", "m", "g", "litre", "hour", "tonne") and len(m.group(f"u_{unit}")) == 1 and \
                not m.group("num"):
            continue
        if unit == "tonne" and (m.group("word") or "").lower() in ("a", "an") and \
                re.match(r"\s+of\b", text[m.end():], re.I):
            continue  # 'a ton of paperwork' weighs nothing
        out.append(Quantity(value, unit, m.start(), m.end()))
    return out


#: Durations written in two units or with a half: '4h15', '3 hours 30 minutes', 'four and a half hours'.
_NUM_OR_WORD = r"(\d{1,3}|" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS if " " not in w), key=len,
                                              reverse=True)) + ")"
_HOURS_MINUTES = re.compile(r"(?<![\w.,:])(\d{1,2})\s?h\s?(\d{2})(?:\s?m(?:in)?)?(?![\w:])"
                            r"|(?<![\w.,:])" + _NUM_OR_WORD +
                            r"\s+(?:hours?|hrs?)\s+(?:and\s+)?(\d{1,2})\s+min(?:ute)?s?\b", re.I)
_AND_A_HALF = re.compile(r"(?<![\w.,:])" + _NUM_OR_WORD + r"\s+and\s+a\s+half\s+(hour|day|week|month|year)s?\b", re.I)


def _word_value(raw: str) -> float:
    return float(raw) if raw.isdigit() else float(NUMBER_WORDS[raw.lower()])


def _compound_quantities(text: str, blocked: list[Mention]) -> list[Quantity]:
    out = []
    for m in _HOURS_MINUTES.finditer(text):
        hours, minutes = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if int(minutes) < 60 and not _overlaps(m.start(), m.end(), blocked):
            out.append(Quantity(_word_value(hours) + int(minutes) / 60, "hour", m.start(), m.end()))
    for m in _AND_A_HALF.finditer(text):
        if not _overlaps(m.start(), m.end(), blocked) and not any(q.start < m.end() and m.start() < q.end for q in out):
            out.append(Quantity(_word_value(m.group(1)) + 0.5, m.group(2).lower(), m.start(), m.end()))
    return out


def convert(value: float, unit: str | None, to: str) -> float | None:
    """``value`` in ``unit`` expressed in ``to`` (same dimension), else None; temperatures as written."""
    if unit is None or unit not in UNITS or to not in UNITS:
        return None
    (dim_a, size_a, _), (dim_b, size_b, _) = UNITS[unit], UNITS[to]
    if dim_a != dim_b:
        return None
    if dim_a == "temperature":
        return value
    out = value * _CALENDAR.get((unit, to), size_a / size_b)
    if dim_a == "time" and size_a < size_b and abs(out * 2 - round(out * 2)) > 1e-6:
        return None  # '3 weeks' is no number of years anyone would write; '18 months' is 1.5
    return round(out) if abs(out - round(out)) < 1e-6 else round(out, 3)


#: Calendar conversions people mean ('two-year programme' is 24 months, 'one month notice' 30 days).
_CALENDAR = {("year", "month"): 12, ("month", "year"): 1 / 12, ("year", "week"): 52, ("year", "day"): 365,
             ("month", "day"): 30, ("month", "week"): 4}


# -- what a mention implies: currency of an amount, period of a rate ----------------------------
_CURRENCY_SIGNS = [  # (regex on the amount's text, ISO code); the longer sign first
    (r"US\$|USD|dollars?", "USD"), (r"A\$|AUD", "AUD"), (r"C\$|CA\$|CAD", "CAD"), (r"S\$|SGD", "SGD"),
    (r"NZ\$|NZD", "NZD"), (r"HK\$|HKD", "HKD"), (r"R\$|BRL|reais|real", "BRL"), (r"\$", "USD"),
    (r"₹|Rs\.?|INR|rupees?|lakhs?|lacs?|crores?|LPA", "INR"),
    (r"€|EUR|euros?", "EUR"), (r"£|GBP|pounds?", "GBP"), (r"¥|JPY|yen", "JPY"), (r"CNY|RMB|yuan", "CNY"),
    (r"₦|NGN|naira", "NGN"), (r"₵|GHS|cedis?", "GHS"), (r"KES|shillings?", "KES"), (r"AED|dirhams?", "AED"),
    (r"SAR|riyals?", "SAR"), (r"ZAR|rand", "ZAR"), (r"₱|PHP|pesos?", "PHP"), (r"₩|KRW|won", "KRW"),
    (r"CHF|francs?", "CHF"), (r"₪|ILS", "ILS"), (r"₽|RUB", "RUB"), (r"ringgit|MYR", "MYR"), (r"baht|THB", "THB"),
]


def currency_of(text: str, mention: Mention) -> str | None:
    """The ISO 4217 code an amount is written in ('₹45,000' -> INR, '€10k' -> EUR), from its own
    sign/code/word; None when only the number is there."""
    span = text[mention.start:mention.end]
    for rx, code in _CURRENCY_SIGNS:
        if re.search(rf"(?<![A-Za-z])(?:{rx})(?![A-Za-z])", span, re.I):
            return code
    m = re.search(rf"(?<![A-Za-z])({CURRENCY_CODES})(?![A-Za-z])", span)
    return m.group(1) if m else None


#: Periods a rate is given in: how the text says it, and the words an option for it contains.
PERIODS = {
    "hour": (r"per hour|an hour|/hr|/h\b|hourly", {"hour", "hourly", "hr"}),
    "day": (r"per day|a day|/day|daily", {"day", "daily", "diem"}),
    "week": (r"per week|a week|/week|/wk|weekly", {"week", "weekly"}),
    "month": (r"per month|a month|/month|/mo\b|p\.?m\.?(?![a-z])|monthly|per mensem", {"month", "monthly", "mensem",
                                                                                       "pm"}),
    "quarter": (r"per quarter|a quarter|quarterly", {"quarter", "quarterly"}),
    "year": (r"per year|a year|/year|/yr|per annum|p\.?a\.?(?![a-z])|annual(?:ly)?|yearly|LPA",
             {"year", "yearly", "annum", "annual", "annually", "pa", "yr"}),
}


def periods(text: str) -> list[Mention[str]]:
    """Where the text says a rate's period ('per month', '/month', 'p.a.', '12 LPA')."""
    out = []
    for key, (rx, _) in PERIODS.items():
        for m in re.finditer(rf"(?<![A-Za-z]){rx}", text, re.I):
            out.append(Mention(key, m.start(), m.end()))
    return sorted(out, key=lambda m: m.start)


def unit_of_option(option: str) -> str | None:
    """The canonical unit an enum option names ('C' -> celsius, 'kg', 'miles'), else None.
    A one-letter option must match case exactly ('F', not 'f')."""
    for key, (_, _, rx) in UNITS.items():
        flags = 0 if len(option) == 1 else re.I
        if re.fullmatch(rf"(?:{rx})", option.strip(), flags) and not (len(option) == 1 and option.islower()):
            return key
    return None


# -- times of day ------------------------------------------------------------------------------
#: An hour of the clock as a digit or a word ('half past two', 'seven in the morning').
_HOUR = r"(?P<h>1[0-2]|0?[1-9]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_PART = r"(?:\s*(?:in the\s+)?(?P<part>morning|afternoon|evening|night))?"
_TIME_PATTERNS = [
    re.compile(r"\bhalf past " + _HOUR + r"\s*(?P<ap>[ap]\.?\s?m\.?(?![a-z]))?" + _PART, re.I),
    re.compile(r"(?<![\d:.])(?P<h>[01]?\d|2[0-3])[:.](?P<m>[0-5]\d)\s*(?P<ap>[ap]\.?\s?m\.?(?![a-z]))?", re.I),
    re.compile(r"(?<![\d:.])(?P<h>1[0-2]|0?[1-9])\s*(?P<ap>[ap]\.?\s?m\.?(?![a-z]))", re.I),
    # '7 in the morning', 'seven o'clock in the evening': an hour word must stand alone ('Someone',
    # 'often' hold none) and be tied to its part of day by "o'clock" or "in the" ('One morning' is no time)
    re.compile(r"(?<![\w:.])(?P<h>1[0-2]|0?[1-9])(?:\s*o'?clock)?\s+(?:in the\s+)?"
               r"(?P<part>morning|afternoon|evening|night)", re.I),
    re.compile(r"(?<![\w:.'\u2019-])(?P<h>one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
               r"(?:\s*o'?clock\s+(?:in the\s+)?|\s+in the\s+)(?P<part>morning|afternoon|evening|night)", re.I),
    re.compile(r"\b(?P<noon>noon|midday|midnight)\b", re.I),
]


def times(text: str) -> list[Mention[str]]:
    """Times of day as 24-hour 'HH:MM': '9:30 pm', '10.15 pm', '23:40', '8 am', '7 in the morning',
    'half past 3 pm', 'noon'. A bare '9.30' with no am/pm is read as written (24-hour)."""
    blocked = dates(text)
    out: list[Mention[str]] = []
    for pat in _TIME_PATTERNS:
        for m in pat.finditer(text):
            if _overlaps(m.start(), m.end(), blocked) or _overlaps(m.start(), m.end(), out):
                continue
            g = m.groupdict()
            if g.get("noon"):
                hh, mm = (0 if g["noon"].lower() == "midnight" else 12), 0
            else:
                hh = int(g["h"]) if g["h"].isdigit() else NUMBER_WORDS[g["h"].lower()]
                mm = int(g.get("m") or 0) + (30 if m.group(0).lower().startswith("half") else 0)
                ap = (g.get("ap") or "").lower()[:1]
                part = (g.get("part") or "").lower()
                if ap == "p" or (part in ("afternoon", "evening") or (part == "night" and hh >= 6)):
                    hh = hh + 12 if hh < 12 else hh
                elif ap == "a" or part == "morning":
                    hh = 0 if hh == 12 else hh
                elif "." in m.group(0) and not g.get("ap") and hh < 7 and \
                        not re.match(r"\s*(?:hrs?|hours|h)\b", text[m.end():]):
                    continue  # '2.5' and '3.45' are more often numbers than times
            out.append(Mention(f"{hh:02d}:{mm:02d}", m.start(), m.end()))
    return sorted(out, key=lambda x: x.start)


def compact(value: str) -> str:
    """A code or number without its spacing and separators: '98110 23456' -> '9811023456'."""
    return re.sub(r"[\s().\-/]", "", value)


def normalised_readings(span_text: str) -> set[str]:
    """The normalised values a span may honestly be written as: its times ('9:30 pm' -> '21:30'),
    its compact form ('KL 07 CD 1234' -> 'KL07CD1234'), a phone without its country code or trunk 0."""
    out = {m.value for m in times(span_text)}
    c = compact(span_text)
    out.add(c)
    m = re.fullmatch(r"\+?(?:\d{1,3})?(\d{10})|0(\d{9,10})", c)
    if m:
        out.add(m.group(1) or m.group(2))
    return out


# -- addresses: runs of proper, comma-separated parts ------------------------------------------
#: One word of an address part: capitalised or numbered ('22B', '8-2-293', '7/112'), a short abbreviation
#: with its dot ('No.', 'St.'), or a small joiner; a longer word's dot ends the sentence, not the part.
_ADDR_TOKEN = rf"(?:[A-Z][a-z]{{1,2}}\.(?=\s)(?!\s+{_OPENER})|[A-Z0-9][\w'\u2019/-]*(?:\.\d+)?)"
#: Small words inside street and place names ('Road No. 12', 'Rue des Martyrs', 'Stratford upon Avon'),
#: and the floor of a building ('3rd floor, 88 Sadar Bazar').
ADDR_JOINERS = ("no", "of", "the", "de", "des", "du", "da", "del", "der", "di", "la", "le", "el", "al", "van", "von",
                "upon", "floor")
_ADDR_WORD = rf"(?:{_ADDR_TOKEN}|(?:{'|'.join(ADDR_JOINERS)})\b\.?)"
_ADDR_LEAD = r"(?:(?i:village|flat|house|plot|door|shop|unit|block|sector)\s+)?"
_ADDR_PART = rf"{_ADDR_LEAD}(?![RSDWC]/[oO]\b){_ADDR_TOKEN}(?:\s+{_ADDR_WORD})*"
ADDRESS_RE = re.compile(rf"(?<![\w'\u2019/.-])(?P<v>{_ADDR_PART}(?:,\s+{_ADDR_PART})*)")
STREET_NOUNS = re.compile(
    r"\b(?:road|rd|street|st|lane|ln|avenue|ave|nagar|sector|block|colony|apartments?|society|layout|close|"
    r"crescent|drive|park|gardens?|court|place|square|terrace|way|marg|chowk|cross|main|phase|stage|enclave|"
    r"vihar|bagh|tower|towers|residency|heights|villa|flat|house|plot|floor|village|tehsil|taluk|ward|"
    r"lines|bazar|bazaar|market|junction|hospital|clinic|station|airport|mall|centre|"
    r"center|hall|building|estate|complex)\b", re.I)
HOME_CUES = re.compile(r"(?:resident of|residing at|resides at|r/o|live (?:at|in)|living (?:at|in)|lives (?:at|in)|"
                       r"address(?: is)?\s*[:-]?|home (?:is )?(?:at|in)|stay(?:ing)? (?:at|in)|based (?:at|in)|"
                       r"from)\s*$", re.I)
AT_CUES = re.compile(r"\b(?:at|in|near|on|outside|inside|opposite|behind|to|of)\s+(?:the\s+|my\s+|our\s+)?$", re.I)


@dataclass(frozen=True)
class Chain:
    """A run of proper, comma-separated parts ('Flat 12, Shivaji Apartments, Sector 9, Delhi')."""

    start: int
    end: int
    parts: int
    street: bool  # names a street-level thing (road, nagar, flat, hospital)
    digit: bool
    cue: str | None  # 'home' after 'resident of'/'live at', 'at' after a preposition


def address_chains(text: str) -> list[Chain]:
    """Every maximal run of capitalised or numbered parts joined by commas, with what precedes it.
    Lower-case words end a part (so a sentence ends the run), except a leading address noun
    ('village Kheri', 'flat 4B') and small joiners ('Road No. 12', 'Stratford upon Avon')."""
    out = []
    for m in ADDRESS_RE.finditer(text):
        value = m.group("v")
        # a part must start with a capital or digit (the regex is case-blind for the lead nouns)
        parts = [p.strip() for p in value.split(",")]
        keep = []
        for p in parts:
            first = re.sub(r"^" + _ADDR_LEAD, "", p, flags=re.I)
            if not first[:1].isupper() and not first[:1].isdigit():
                break
            if any(w[:1].islower() and w.lower().rstrip(".") not in ADDR_JOINERS
                   for w in first.split()[1:]):
                break
            keep.append(p)
        if not keep:
            continue
        start = m.start("v")
        end = start + len(", ".join(keep)) if ", ".join(keep) == text[start:start + len(", ".join(keep))] \
            else start + len(keep[0])
        seg = text[start:end].rstrip(".")
        end = start + len(seg)
        before = text[max(0, start - 30):start]
        cue = "home" if HOME_CUES.search(before) else "at" if AT_CUES.search(before) else None
        out.append(Chain(start, end, len(keep), bool(STREET_NOUNS.search(seg)), bool(re.search(r"\d", seg)), cue))
    return out
