"""``/api/v1/tasks``: task records as users see them (state, progress, retry, cancel).

Named after the URLs it serves, not ``tasks`` (the top-level package of actors).
"""
