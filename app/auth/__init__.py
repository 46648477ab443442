"""Users, roles, API keys, login tokens (domain in service.py, HTTP in api.py)."""
