"""Exports of a form's submissions: streamed, as tasks, and their downloads."""
