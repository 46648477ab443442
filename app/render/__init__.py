"""Renderers that turn the one process-tree declaration into host configuration."""
