"""Kebu's SQLite database backend: Django's own, with writers that take turns (``base.py``)."""
