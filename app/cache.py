"""Redis cache with namespaced keys, TTLs and a fail-open policy.

The store is the source of truth; the cache only saves work. When Redis is
unreachable every call returns a miss (or does nothing) and the API answers
from the store. After a failure the cache stays off for ``retry_after``
seconds so a dead Redis does not add a connect timeout to every request.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from typing import Any

import redis

from app.observability.metrics import CACHE_EVENTS

log = logging.getLogger(__name__)
NAMESPACE = "fms:cache:v1"
EPOCH_KEY = f"{NAMESPACE}:epoch"  # a new random value on every change a per-process copy must not outlive


class Cache:
    def __init__(self, url: str, ttl: int, retry_after: float = 2.0) -> None:
        self.url = url
        self.ttl = ttl
        self.retry_after = retry_after
        self._down_until = 0.0
        self._scripts: dict[str, Any] = {}  # Lua source -> redis-py Script (its SHA1, loaded on first use)
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

    def set(self, namespace: str, ident: str, value: bytes, ttl: int | None = None) -> bool:
        """True once written; False while Redis is unusable or the write failed (most callers need not care)."""
        if not self._usable():
            return False
        try:
            self._client.set(self.key(namespace, ident), value, ex=ttl or self.ttl)  # type: ignore[union-attr]
        except redis.RedisError as exc:
            self._failed(exc)
            return False
        return True

    def add(self, namespace: str, ident: str, value: bytes, ttl: int | None = None) -> bool | None:
        """Set only if absent (``SET NX``): True if this call set it, False if the key exists,
        None while Redis is unusable (a claim nobody can see is no claim)."""
        if not self._usable():
            return None
        try:
            done = self._client.set(self.key(namespace, ident), value, ex=ttl or self.ttl, nx=True)  # type: ignore[union-attr]
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        return bool(done)

    def run_script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script on ``keys`` (full keys, see :meth:`key`): EVALSHA, loaded on first use
        (redis-py's ``register_script``); None while Redis is unusable, like every other call here."""
        if not self._usable():
            return None
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._client.register_script(source)  # type: ignore[union-attr]
        try:
            return script(keys=keys, args=args)
        except redis.RedisError as exc:
            self._failed(exc)
            return None

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


class LocalCache:
    """Per-process copies of hot store reads (credentials, forms), dropped in every process at once.

    Why: authenticating and loading the form cost two SQLite reads (or a Redis
    round trip) per request, as much CPU as Flask itself. A revoke, a user change
    or a form edit anywhere calls :meth:`bump`, which sets one Redis key to a new random
    value (``EPOCH_KEY``); each process reads that key at most every
    ``check_every`` seconds (one GET, not one per request) and drops all its
    copies when it changed, so a change reaches every worker within
    ``check_every`` plus one request. The bumping process drops its own copies
    at once. Without Redis, or while Redis fails, nothing is kept and every
    request reads the store, as before. ``max_age`` bounds an entry's life in
    case a bump was lost (a process killed between its write and its bump).
    A copy loaded while another thread dropped everything is not kept (the
    generation check in :meth:`put`), so a read that began before a change
    cannot re-insert the old value after it.
    """

    def __init__(self, client: redis.Redis | None, check_every: float = 0.25, max_age: float = 30.0,
                 max_entries: int = 20_000, retry_after: float = 2.0,
                 limits: dict[str, int] | None = None) -> None:
        self._client = client
        self.check_every = check_every
        self.retry_after = retry_after
        self.max_age = max_age
        self.max_entries = max_entries  # per namespace, unless ``limits`` names it
        # Forms can be large (a schema of tens of KB, parsed): few are hot, so few are kept,
        # which bounds a worker's memory (NFR-PERF-004: the API within 512 MB).
        self.limits = {"form": 256, "form_body": 256} if limits is None else limits
        self._entries: dict[str, dict[str, tuple[float, Any]]] = {}
        self._epoch: bytes | str | None = None  # redis-py types get() either way
        self._checked_at: float | None = None  # monotonic time of the last counter read; None: never
        self._usable = False
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Pass this to :meth:`put` with a value read from the store after reading it here."""
        self._maybe_check()
        return self._generation

    def get(self, namespace: str, key: str) -> Any:
        """The copy, or None (a miss: read the store, then :meth:`put`)."""
        self._maybe_check()
        hit = self._entries.get(namespace, {}).get(key)
        if hit is None or time.monotonic() - hit[0] > self.max_age:
            return None
        return hit[1]

    def put(self, namespace: str, key: str, value: Any, generation: int) -> None:
        """Keep ``value`` unless everything was dropped since ``generation`` was read."""
        with self._lock:
            if not self._usable or generation != self._generation:
                return
            entries = self._entries.setdefault(namespace, {})
            if len(entries) >= self.limits.get(namespace, self.max_entries):
                entries.clear()  # crude, and rare: a miss costs one store read
            entries[key] = (time.monotonic(), value)

    def bump(self) -> None:
        """Tell every process (this one at once) that cached credentials or forms changed."""
        self._drop()
        if self._client is None:
            return
        try:
            # a fresh random value, not a counter: after a restart or an eviction of the key a
            # counter would count 1 again, the value other processes saw before, and go unnoticed
            self._client.set(EPOCH_KEY, secrets.token_hex(8))
        except redis.RedisError as exc:
            # Other processes then notice within max_age only (or at once, if Redis is down for them too).
            log.warning("cache epoch not bumped; other processes may serve a stale copy up to max_age",
                        extra={"error": str(exc)})

    def _drop(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def _maybe_check(self) -> None:
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.check_every:
            return
        self._checked_at = now  # one thread checks; the others go on with the current copies
        if self._client is None:
            return
        try:
            epoch = self._client.get(EPOCH_KEY)
        except redis.RedisError:
            self._usable = False
            self._drop()
            # Nothing is kept while Redis fails, so checking less often risks nothing and spares
            # a request the connect timeout every check_every seconds.
            self._checked_at = now + self.retry_after - self.check_every
            return
        if epoch != self._epoch or not self._usable:
            self._drop()
            self._epoch, self._usable = epoch, True


_local: weakref.WeakKeyDictionary[object, LocalCache] = weakref.WeakKeyDictionary()
_local_lock = threading.Lock()


def local_cache(store: object, url: str) -> LocalCache:
    """The one :class:`LocalCache` of this process for ``store`` (auth and forms share it)."""
    with _local_lock:
        found = _local.get(store)
        if found is None:
            client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25) if url else None
            found = _local[store] = LocalCache(client)
        return found
