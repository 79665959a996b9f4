"""Filled in by its area (work in progress)."""

__all__: list[str] = []
