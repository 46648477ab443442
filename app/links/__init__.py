"""Public submission links: anonymous submit with expiry, quota and rate limit."""
