"""Analytics benchmark (issue 8): summaries and exports of a 10-field form at 100k, 1M, 5M rows.

    .venv/bin/python scripts/bench/analytics.py [--sizes 100k,1M] [--json out.json]

Skeleton: the sections are filled in by their owners (summary: the dashboard
engineer; export: the export engineer). Each section is a function taking the
seeded dataset and returning a JSON-able dict.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def parse_size(text: str) -> int:
    """``100k`` -> 100000, ``1M`` -> 1000000, ``5000`` -> 5000."""
    text = text.strip()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M", help="comma-separated row counts (k/M suffixes)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    print(f"sizes: {sizes} (sections not implemented yet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
