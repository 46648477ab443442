"""Append-only, tamper-evident audit log of administrative and auth events.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the
entry's own canonical JSON, so editing or deleting any row breaks every hash
after it; :func:`verify` walks the chain and names the first bad row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.store import Record, Store
from app.util import canonical_json, now_iso, sha256_hex

log = logging.getLogger(__name__)
GENESIS = "0" * 64


def entry_hash(entry: Record) -> str:
    body = {k: entry[k] for k in ("seq", "at", "actor", "action", "target", "details", "prev_hash")}
    return sha256_hex(entry["prev_hash"] + canonical_json(body))


def record(store: Store, action: str, actor: str | None, target: str | None = None,
           details: dict[str, Any] | None = None) -> Record:
    """Append one event; retries when another process appended concurrently."""
    for _ in range(50):
        last = store.last_audit()
        entry: Record = {
            "seq": (last["seq"] + 1) if last else 1,
            "at": now_iso(),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details or {},
            "prev_hash": last["hash"] if last else GENESIS,
        }
        entry["hash"] = entry_hash(entry)
        if store.insert_audit(entry):
            log.info("audit", extra={"action": action, "actor": actor, "target": target})
            return entry
    raise RuntimeError("could not append to the audit log after 50 attempts")


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


def verify(store: Store, batch: int = 1000) -> Verification:
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    while True:
        rows = store.list_audit(expected_seq - 1, batch)
        if not rows:
            return Verification(True, checked)
        for row in rows:
            if row["seq"] != expected_seq:
                return Verification(False, checked, expected_seq, "entry missing")
            if row["prev_hash"] != prev_hash:
                return Verification(False, checked, row["seq"], "previous hash does not match")
            if entry_hash(row) != row["hash"]:
                return Verification(False, checked, row["seq"], "entry was modified")
            prev_hash, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
