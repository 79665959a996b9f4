"""Number formats where Kebu departs from Django's locale defaults (``FORMAT_MODULE_PATH``)."""
