"""Webhook actors (filled in below)."""
