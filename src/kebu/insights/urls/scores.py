"""Filled in by its area (work in progress)."""

urlpatterns: list = []
