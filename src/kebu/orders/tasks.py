"""Periodic work of the orders area. Tasks call a service and hold no logic of their own."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from kebu.orders.services.metrics import customers_churn_mark


@db_periodic_task(crontab(hour="3", minute="17"))
@lock_task("customers-churn-mark")
def customers_churn_mark_daily() -> int:
    """Mark churned customers once a day. Idempotent: a customer already churned is
    not marked again, and a day missed while the server was down is caught up by the next run, since
    the rule compares dates rather than counting days."""
    return customers_churn_mark()
