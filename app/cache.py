"""Redis cache with namespaced keys, TTLs and a fail-open policy.

The store is the source of truth; the cache only saves work. When Redis is
unreachable every call returns a miss (or does nothing) and the API answers
from the store. After a failure the cache stays off for ``retry_after``
seconds so a dead Redis does not add a connect timeout to every request.
"""

from __future__ import annotations

import logging
import time

import redis

from app.observability.metrics import CACHE_EVENTS

log = logging.getLogger(__name__)
NAMESPACE = "fms:cache:v1"


class Cache:
    def __init__(self, url: str, ttl: int, retry_after: float = 2.0) -> None:
        self.ttl = ttl
        self.retry_after = retry_after
        self._down_until = 0.0
        self._client = (
            redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25, health_check_interval=30)
            if url else None
        )

    @staticmethod
    def key(namespace: str, ident: str) -> str:
        return f"{NAMESPACE}:{namespace}:{ident}"

    def _usable(self) -> bool:
        return self._client is not None and time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        if self._down_until < time.monotonic():
            log.warning("cache unavailable, serving from the store", extra={"error": str(exc)})
        self._down_until = time.monotonic() + self.retry_after

    def get(self, namespace: str, ident: str) -> bytes | None:
        if not self._usable():
            CACHE_EVENTS.labels(namespace, "bypass").inc()
            return None
        try:
            value = self._client.get(self.key(namespace, ident))  # type: ignore[union-attr]
        except redis.RedisError as exc:
            self._failed(exc)
            CACHE_EVENTS.labels(namespace, "error").inc()
            return None
        CACHE_EVENTS.labels(namespace, "hit" if value is not None else "miss").inc()
        return value  # type: ignore[return-value]

    def set(self, namespace: str, ident: str, value: bytes, ttl: int | None = None) -> None:
        if not self._usable():
            return
        try:
            self._client.set(self.key(namespace, ident), value, ex=ttl or self.ttl)  # type: ignore[union-attr]
        except redis.RedisError as exc:
            self._failed(exc)

    def delete(self, namespace: str, *idents: str) -> None:
        """Invalidate on write. A failure here is logged: the TTL bounds staleness."""
        if self._client is None or not idents:
            return
        try:
            self._client.delete(*(self.key(namespace, i) for i in idents))
        except redis.RedisError as exc:
            self._failed(exc)

    def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False
