"""Periodic housekeeping of the spreadsheet work."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from kebu.transfer.drafts import import_drafts_prune
from kebu.transfer.exports import exports_purge
from kebu.transfer.imports import imports_purge


@db_periodic_task(crontab(minute="17", hour="3"))
@lock_task("exports-purge")
def exports_purge_daily() -> int:
    """Export files hold personal data: they are kept for ``KEBU_EXPORT_KEEP_DAYS`` days, then deleted."""
    return exports_purge(older_than=timedelta(days=settings.KEBU["EXPORT_KEEP_DAYS"]))


@db_periodic_task(crontab(minute="27", hour="3"))
@lock_task("import-drafts-prune")
def import_drafts_prune_daily() -> int:
    """Uploads nobody went on to import hold personal data: deleted after two days."""
    return import_drafts_prune()


@db_periodic_task(crontab(minute="37", hour="3"))
@lock_task("imports-purge")
def imports_purge_daily() -> int:
    """An imported file is kept for its report of rejected rows, then deleted (KEBU_IMPORT_KEEP_DAYS)."""
    return imports_purge(older_than=timedelta(days=settings.KEBU["IMPORT_KEEP_DAYS"]))
