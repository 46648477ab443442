"""Forms: versioned JSON Schemas for answers (service.py) and their API (api.py)."""
