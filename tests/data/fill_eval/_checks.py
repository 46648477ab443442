"""The checks every blind AI-fill set's builder runs (``heldout2``, ``heldout3``, ``heldout4``: each ``_build.py``).

Each set keeps its own data and its own relative-date words; what a sound row is (it validates
against its form with formats checked, ISO dates, every field with a known kind, span-like answers
readable off the narrative, no relative dates, no duplicate narratives) is declared once, here.
"""
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

KINDS = {"name", "place", "date", "time", "amount", "count", "code", "enum", "boolean",
         "free_text", "email", "phone"}
VERBATIM_KINDS = {"name", "place", "email", "free_text"}
SHAPED_KINDS = {"code", "phone"}  # copied modulo spaces, dashes, dots and slashes (codes as the pattern wants)


@dataclass(frozen=True)
class BlindSet:
    """One set: its folder (forms + kinds.json), JSONL, id prefix, rows and relative-date pattern."""

    here: Path
    out: Path
    prefix: str
    rows: list
    relative_date: re.Pattern
    min_per_form: int = 13

    def check(self, rows=None) -> list[str]:
        """Every problem with the data set, as one line each (empty list: fine)."""
        rows = self.rows if rows is None else rows
        kinds = json.loads((self.here / "kinds.json").read_text())
        forms, problems = _load_forms(self.here, kinds)
        per_form = dict.fromkeys(forms, 0)
        for i, (form, text, expected) in enumerate(rows):
            if form not in forms:
                problems.append(f"row {i}: unknown form {form}")
                continue
            per_form[form] += 1
            problems += _row_problems(i, form, text, expected, forms[form], kinds[form], self.relative_date)
        problems += [f"{form}: only {n} narratives" for form, n in per_form.items() if n < self.min_per_form]
        texts = [text for _, text, _ in rows]
        problems += [f"duplicate narrative: {t[:60]!r}" for t in {t for t in texts if texts.count(t) > 1}]
        return problems

    def records(self, rows=None) -> list[dict]:
        rows = self.rows if rows is None else rows
        return [{"id": f"{self.prefix}-{i:03d}", "form": form, "text": text, "expected": expected}
                for i, (form, text, expected) in enumerate(rows)]

    def main(self) -> None:
        """Write the JSONL, or refuse with every problem."""
        found = self.check()
        if found:
            print("\n".join(found), file=sys.stderr)
            sys.exit(1)
        with self.out.open("w") as fh:
            for rec in self.records():
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(len(self.rows), "narratives over", len({r[0] for r in self.rows}), "forms ->", self.out.name)


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().casefold()


def _alnum(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.casefold())


def _traceable(value, kind: str, text: str) -> bool:
    """A span-like answer must be readable off the text; codes and phones modulo separators."""
    items = value if isinstance(value, list) else [value]
    if kind in SHAPED_KINDS:
        return all(_alnum(v) in _alnum(text) for v in items)
    return all(_squash(v) in _squash(text) for v in items)


def _load_forms(here: Path, kinds: dict) -> tuple[dict, list[str]]:
    """Every form schema, checked against the metaschema, and where kinds.json disagrees."""
    forms, problems = {}, []
    for path in sorted(here.glob("*.json")):
        if path.name == "kinds.json":
            continue
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        forms[path.stem] = schema
        differ = set(schema["properties"]) ^ set(kinds.get(path.stem, {}))
        if differ:
            problems.append(f"{path.stem}: kinds.json and properties differ on {sorted(differ)}")
        unknown = {k for k in kinds.get(path.stem, {}).values() if k not in KINDS}
        if unknown:
            problems.append(f"{path.stem}: unknown kinds {sorted(unknown)}")
    problems += [f"kinds.json names a form with no schema: {f}" for f in sorted(set(kinds) - set(forms))]
    return forms, problems


def _row_problems(i: int, form: str, text: str, expected: dict, schema: dict, kinds: dict,
                  relative_date: re.Pattern) -> list[str]:
    where = f"row {i} ({form})"
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    problems = [f"{where}: {e.json_path}: {e.message}" for e in validator.iter_errors(expected)]
    if relative_date.search(text):
        problems.append(f"{where}: relative date {relative_date.search(text).group(0)!r}")
    for field, value in expected.items():
        kind = kinds.get(field)
        if kind is None:
            problems.append(f"{where}: {field} has no kind")
            continue
        is_date = schema["properties"].get(field, {}).get("format") == "date"
        if is_date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
            problems.append(f"{where}: {field} not ISO: {value!r}")
        if kind in VERBATIM_KINDS | SHAPED_KINDS and not _traceable(value, kind, text):
            problems.append(f"{where}: {field}={value!r} is not in the text")
    return problems
