#!/usr/bin/env python3
"""Bounded loopback load for the reload check: N clients, each a keep-alive
HTTPS connection sending GETs at most RATE per second for SECONDS.

Usage: load.py URL SECONDS CLIENTS [RATE]   -> one JSON line on stdout.
A request fails on any exception or any status other than 200.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit


def client(url: str, until: float, rate: float, out: dict[str, int], lock: threading.Lock) -> None:
    parts = urlsplit(url)
    ctx = ssl._create_unverified_context()  # the e2e host's certificate is self-signed
    conn: http.client.HTTPSConnection | None = None
    ok = failed = 0
    errors: dict[str, int] = {}
    while (now := time.monotonic()) < until:
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=ctx, timeout=10)
            conn.request("GET", parts.path)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                ok += 1
            else:
                failed += 1
                errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
        except (OSError, http.client.HTTPException) as exc:
            failed += 1
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            conn = None
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - now)))
    with lock:
        out["ok"] += ok
        out["failed"] += failed
        for key, n in errors.items():
            out.setdefault("errors", {})[key] = out.get("errors", {}).get(key, 0) + n


def main() -> int:
    url, seconds, clients = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 50.0
    out: dict = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=client, args=(url, until, rate, out, lock)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["requests"] = out["ok"] + out["failed"]
    out["seconds"] = seconds
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
