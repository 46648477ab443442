"""Claims on queued summaries: one ``analytics.summary`` task per result, a bounded number in flight.

A claim is a Redis key (the result's key without the data version -> the id
of the task computing it, ``SET NX`` with a TTL outliving the task's time limit). Each claim is
also a member of two sorted sets, all forms' and its form's, scored by when it
expires: their size is what is in flight, counted in one ``ZCARD`` and kept
consistent on every path a task can take: its end drops the member with the
claim, and a task that never ends (a worker killed for good) leaves a member
whose score has passed, dropped by the next claim's ``ZREMRANGEBYSCORE``.
Claiming checks and updates all three keys in one Lua script, so two API
workers cannot both take the last free place. The clock is Redis's own
(``TIME``), the same for every host.

Why bound them: any reader can ask for a summary with a new ``created_after``
each time, and each miss would queue one full scan; past the bounds the API
answers ``503 analytics_busy`` (``Retry-After``) instead.

No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.cache import Cache
from app.settings import Settings, parse_time_limits

NAMESPACE = "analytics-pending"  # key without data version -> id of the task computing it
COUNT_NAMESPACE = "analytics-inflight"  # "all" and "form:<id>" -> sorted set of task ids by expiry
# Seconds a claim lives if its task never ends, by default. A task drops its claim when it ends; a worker
# killed mid-way gets its message redelivered (at least once) and the rerun drops it. This bounds the rest:
# after it a request starts a new task (a duplicate computation, never a wrong answer). The API's claims
# live longer: the analytics queue's time limit plus CLAIM_MARGIN_S (Offload.claim_ttl_s), so a summary
# that is still allowed to run is never started a second time.
CLAIM_TTL_S = 600
CLAIM_MARGIN_S = 60

def claim_ttl(settings: Settings) -> int:
    """Seconds the API's claims live: the ``analytics`` queue's time limit (``FMS_TASK_TIME_LIMITS``) plus
    :data:`CLAIM_MARGIN_S`; :data:`CLAIM_TTL_S` when the setting names no limit for that queue."""
    limit_ms = parse_time_limits(settings.task_time_limits).get("analytics")
    return CLAIM_TTL_S if limit_ms is None else -(-limit_ms // 1000) + CLAIM_MARGIN_S

# KEYS: claim, all forms' set, the form's set. ARGV: task id, ttl, max all, max form.
# Returns {"claimed"|"held", task id} or {"busy", "host"|"form"}.
_CLAIM = """
local now = tonumber(redis.call('TIME')[1])
local held = redis.call('GET', KEYS[1])
if held then return {'held', held} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'busy', 'host'} end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return {'busy', 'form'} end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('EXPIRE', KEYS[i], ttl)
end
return {'claimed', ARGV[1]}
"""

# KEYS: claim, all forms' set, the form's set. ARGV: task id. Compare and delete: a claim that outlived its
# TTL may have been taken by another request's task since, and is that task's to drop. The task's own members
# in the counts go whatever the claim holds.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Claim:
    """What claiming found: ``state`` is ``claimed`` (``task_id`` is ours to enqueue), ``held`` (``task_id``
    computes it already) or ``busy`` (``scope`` ``host`` or ``form`` is at its bound; no task)."""

    state: str
    task_id: str = ""
    scope: str = ""


@dataclass(frozen=True)
class Claims:
    cache: Cache
    max_pending: int
    max_per_form: int
    ttl_s: int = CLAIM_TTL_S

    def _keys(self, form_id: str, key: str) -> list[str]:
        return [Cache.key(NAMESPACE, key), Cache.key(COUNT_NAMESPACE, "all"),
                Cache.key(COUNT_NAMESPACE, f"form:{form_id}")]

    def claim(self, form_id: str, key: str, task_id: str) -> Claim | None:
        """Claim ``key`` for ``task_id`` if it is free and both bounds allow; None without Redis."""
        found = self.cache.run_script(_CLAIM, self._keys(form_id, key),
                                      [task_id, self.ttl_s, self.max_pending, self.max_per_form])
        if not found:
            return None
        state, value = (v.decode() if isinstance(v, bytes) else str(v) for v in found)
        if state == "busy":
            return Claim(state, scope=value)
        return Claim(state, task_id=value)

    def release(self, form_id: str, key: str, task_id: str) -> None:
        """Drop ``task_id``'s claim on ``key``, if it still holds it, and its place in the counts (it ended)."""
        self.cache.run_script(_RELEASE, self._keys(form_id, key), [task_id])

    def in_flight(self, form_id: str | None = None) -> int:
        """Members counted now (expired ones included until the next claim drops them); 0 without Redis."""
        return int(self.cache.run_script("return redis.call('ZCARD', KEYS[1])",
                                         [Cache.key(COUNT_NAMESPACE, "all" if form_id is None else f"form:{form_id}")],
                                         []) or 0)
