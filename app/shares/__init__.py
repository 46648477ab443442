"""Per-form sharing: grants of viewer / editor / manager to users (service.py) and their API (api.py)."""
