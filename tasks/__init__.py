"""Task processing: Dramatiq on Redis, one queue per priority, records in the store.

Modules: :mod:`tasks.routing` (the one routing table), :mod:`tasks.broker`
(the broker with a blocking wake-up, actor declaration, batch enqueue),
:mod:`tasks.middleware` (records, retries, request ids, metrics, heartbeats),
:mod:`tasks.relay` (outbox → broker), actors in :mod:`tasks.webhooks`,
:mod:`tasks.email` and :mod:`tasks.system`; :mod:`tasks.worker` is what
``dramatiq tasks.worker`` imports.
"""
