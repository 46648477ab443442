#!/usr/bin/env python3
"""Install the default models into ``$FMS_DATA_DIR/models`` (default ./var) — offline.

Usage: .venv/bin/python scripts/install_models.py [DATA_DIR]
Idempotent; a second run only stats the files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.models.defaults import ModelInstallError, ensure_default_models


def main(argv: list[str]) -> int:
    data_dir = argv[1] if len(argv) > 1 else os.environ.get("FMS_DATA_DIR", "./var")
    try:
        paths = ensure_default_models(data_dir)
    except ModelInstallError as exc:
        print(f"install_models: {exc}", file=sys.stderr)
        return 1
    for name, path in sorted(paths.items()):
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
