"""Logging and metrics; usable from the API, the workers and the CLI alike."""
