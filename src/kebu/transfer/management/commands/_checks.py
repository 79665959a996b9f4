"""The system checks the spreadsheet commands run: every one but the URL configuration's. Loading it
imports every view, and the insights views bring numpy, pandas, pyarrow and scipy (~125 MB) into a
process that never serves a page."""

from django.core.checks import Tags

CHECKS_BUT_URLS = [tag for name, tag in vars(Tags).items() if not name.startswith("_") and tag != Tags.urls]
