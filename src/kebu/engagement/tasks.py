"""Periodic work of the service area. Tasks call a service and hold no logic of their own.

Both run every hour rather than at one time of day: Huey's crontab reads UTC, a worker may be down at
that moment, and both services are safe to repeat (reminders go on from the last day done; a digest is
recorded per person and day before it is sent)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from kebu.engagement.services.followups import digests_send
from kebu.engagement.services.reminders import reminders_generate

# The digest goes out from this hour of the shop's day (08:00 by default), at the first run after it.
DIGEST_HOUR = int(settings.KEBU["DIGEST_HOUR"])


@db_periodic_task(crontab(minute="7"))
@lock_task("followups-reminders")
def reminders_generate_hourly() -> int:
    """Make the follow-ups of the plans for today and any day missed while the server was down."""
    return reminders_generate()


@db_periodic_task(crontab(minute="12"))
@lock_task("followups-digest")
def digests_send_hourly() -> int:
    """From the digest hour on, mail each subscriber their follow-ups, once a day."""
    if timezone.localtime().hour < DIGEST_HOUR:
        return 0
    return digests_send()
