"""E-mail actors."""
