"""Jobs: one worker at a time, a dead worker's job taken over, cancelling, and the reconciler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from kebu.core.errors import ValidationFailed
from kebu.core.jobs import (
    MAX_ATTEMPTS,
    JobLost,
    job_cancel,
    job_claim,
    job_create,
    job_run,
    job_runner,
    jobs_reconcile,
)
from kebu.core.models import Job, JobStatus, Sequence

pytestmark = pytest.mark.django_db


@job_runner("test.count")
def _count(run):
    """Bumps a sequence once per batch of three, checkpointed in the sequence's own value."""
    for _ in range(3):
        run.stop_if_cancelled()
        with transaction.atomic():
            Sequence.objects.update_or_create(name="test", defaults={})
            Sequence.objects.filter(name="test").update(value=run.job.done + 1)
            run.beat(done=run.job.done + 1, total=3)


@job_runner("test.refuse")
def _refuse(run):
    raise ValidationFailed("这个文件不行")


@job_runner("test.crash")
def _crash(run):
    raise ZeroDivisionError


def make(kind="test.count"):
    return job_create(kind=kind, actor=None, enqueue=False)


def test_a_job_runs_to_its_end_and_records_its_progress():
    job = job_run(make().pk)

    assert job.status == JobStatus.DONE and (job.done, job.total, job.percent) == (3, 3, 100)
    assert job.attempts == 1 and job.started_at and job.finished_at and job.error == ""


def test_only_one_worker_claims_a_job():
    job = make()

    assert job_claim(job.pk) is not None
    assert job_claim(job.pk) is None
    assert job_run(job.pk) is None  # a second delivery of the task does nothing


def test_a_job_whose_worker_went_quiet_is_taken_over_and_the_old_worker_cannot_commit():
    job = make()
    old = job_claim(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    new = job_claim(job.pk)

    assert new is not None and new.job.claim != old.job.claim
    with pytest.raises(JobLost), transaction.atomic():
        Sequence.objects.create(name="half-done", value=1)
        old.beat(done=1)
    assert not Sequence.objects.filter(name="half-done").exists()


def test_a_refusal_is_kept_as_the_jobs_error_and_a_crash_as_a_pointer_to_the_log(caplog):
    refused = job_run(make("test.refuse").pk)
    crashed = job_run(make("test.crash").pk)

    assert refused.status == JobStatus.FAILED and refused.error == "这个文件不行"
    assert crashed.status == JobStatus.FAILED and "ZeroDivisionError" in crashed.error
    assert "test.crash" in caplog.text


def test_cancelling_a_waiting_job_stops_it_before_it_starts():
    job = job_cancel(job=make())

    assert job.status == JobStatus.CANCELLED
    assert job_run(job.pk) is None


def test_cancelling_a_running_job_stops_it_after_the_batch_it_is_in():
    job = make()

    def cancel_after_first(seen):
        if seen.done == 1:
            job_cancel(job=seen)

    ended = job_run(job.pk, on_beat=cancel_after_first)

    assert ended.status == JobStatus.CANCELLED and ended.done == 1
    assert Sequence.objects.get(name="test").value == 1


def test_the_reconciler_queues_again_a_job_whose_worker_died_and_it_finishes():
    job = make()
    job_claim(job.pk)  # claimed, then the worker was killed: no more heartbeats
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    assert jobs_reconcile() == 1  # the task queue runs at once in the tests

    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.attempts == 2


def test_the_reconciler_queues_a_job_whose_task_never_reached_the_queue():
    job = make()
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    assert jobs_reconcile() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.DONE


def test_the_reconciler_leaves_live_jobs_alone_and_gives_up_on_a_job_that_keeps_dying():
    live = make()
    job_claim(live.pk)
    dying = make()
    Job.objects.filter(pk=dying.pk).update(
        status=JobStatus.RUNNING, attempts=MAX_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    assert jobs_reconcile() == 0

    live.refresh_from_db()
    dying.refresh_from_db()
    assert live.status == JobStatus.RUNNING
    assert dying.status == JobStatus.FAILED and str(MAX_ATTEMPTS) in dying.error


def test_a_job_is_queued_only_when_its_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = job_create(kind="test.count", actor=None)
        assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED

    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
