"""Fixed-window counters in Redis (failed logins, anonymous submissions).

If Redis is down the limiter falls back to a per-process counter: limits get
looser (one window per worker) but never disappear and never block the API.
"""

from __future__ import annotations

import time

import redis

NAMESPACE = "fms:rl"


class RateLimiter:
    def __init__(self, url: str) -> None:
        self._client = (
            redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25) if url else None
        )
        self._local: dict[str, tuple[int, float]] = {}

    def _key(self, bucket: str, ident: str) -> str:
        return f"{NAMESPACE}:{bucket}:{ident}"

    def count(self, bucket: str, ident: str) -> int:
        """Hits in the current window, without adding one."""
        key = self._key(bucket, ident)
        try:
            if self._client is not None:
                return int(self._client.get(key) or 0)
        except redis.RedisError:
            pass
        hits, expires = self._local.get(key, (0, 0.0))
        return hits if expires > time.monotonic() else 0

    def hit(self, bucket: str, ident: str, window: int) -> int:
        """Count one hit; returns the hits in the window so far."""
        key = self._key(bucket, ident)
        try:
            if self._client is not None:
                pipe = self._client.pipeline()
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
                return int(pipe.execute()[0])
        except redis.RedisError:
            pass
        hits, expires = self._local.get(key, (0, 0.0))
        now = time.monotonic()
        if expires <= now:
            hits, expires = 0, now + window
        self._local[key] = (hits + 1, expires)
        return hits + 1

    def ttl(self, bucket: str, ident: str, window: int) -> int:
        try:
            if self._client is not None:
                left = int(self._client.ttl(self._key(bucket, ident)))
                return left if left > 0 else window
        except redis.RedisError:
            pass
        return window

    def reset(self, bucket: str, ident: str) -> None:
        key = self._key(bucket, ident)
        self._local.pop(key, None)
        try:
            if self._client is not None:
                self._client.delete(key)
        except redis.RedisError:
            pass
