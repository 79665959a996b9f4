"""The task queue's side of ``kebu.core.jobs``: run a job, and re-queue the ones whose task was lost."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from kebu.core.jobs import job_run, jobs_reconcile


@db_task()
def job_run_task(job_id: int) -> None:
    job_run(job_id)


@db_periodic_task(crontab(minute="*"))
@lock_task("jobs-reconcile")
def jobs_reconcile_every_minute() -> int:
    return jobs_reconcile()
