"""A worker that starts clears the task locks a killed one left, or the periodic tasks would be refused
for good."""

from __future__ import annotations

import logging

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


def test_the_worker_prints_each_line_once_and_only_what_goes_wrong():
    # The consumer (run_huey) gives the "huey" logger a handler of its own when it has none, which then
    # printed every line twice (its handler and the root's); and it notes each periodic task it runs.
    consumer_log = logging.getLogger("huey.consumer")
    assert logging.getLogger("huey").handlers, "run_huey would add a second handler"
    handlers, logger = [], consumer_log
    while logger:  # the handlers a record reaches, as logging.Logger.callHandlers walks them
        handlers += [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]
        logger = logger.parent if logger.propagate else None
    assert len(handlers) == 1
    assert consumer_log.isEnabledFor(logging.WARNING)
    assert not consumer_log.isEnabledFor(logging.INFO)
