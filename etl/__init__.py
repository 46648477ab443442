"""Exports and analytics over the store; no web framework, no task system."""
