"""A worker that starts clears the task locks a killed one left, or the periodic tasks would be refused
for good."""

from __future__ import annotations

from huey.consumer_options import ConsumerConfig
from huey.contrib.djhuey import HUEY

from kebu.core.management.commands.worker import CONSUMER_OPTIONS
from kebu.engagement import tasks  # noqa: F401  (declares its locks)


def test_a_lock_left_by_a_killed_worker_is_cleared_when_a_worker_starts():
    # given a run of the reminders killed while it held its lock
    HUEY.lock_task("followups-reminders").acquire()
    assert HUEY.is_locked("followups-reminders")
    # when a worker starts with the options kebu worker gives it
    HUEY.create_consumer(**ConsumerConfig(**CONSUMER_OPTIONS, workers=1).values)
    # then the lock is gone and the next run can take it
    assert not HUEY.is_locked("followups-reminders")
