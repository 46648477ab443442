"""The export formats and their media types, apart from the writers.

Why a module of its own: the HTTP layer checks ``format`` and sets
``Content-Type`` on every export request, while the writers
(:mod:`etl.stream`) need pyarrow — tens of MB that an API worker should only
load when it actually streams an export.
"""

from __future__ import annotations

FORMATS = ("csv", "jsonl", "parquet", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
               "parquet": "application/vnd.apache.parquet",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
