"""``/openapi.json`` and the interactive API documentation at ``/docs``."""
