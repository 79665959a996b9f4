"""Long work as ``Job`` rows: create, claim, beat, finish, cancel, and the reconciler that re-queues a
job whose task was lost.

A job kind is a function registered with ``@job_runner("kind")``. It gets a ``JobRun`` and does its
work in batches; each batch's transaction ends with ``run.beat(done=…)``, which writes the progress
only while this worker still holds the job's claim (else it raises ``JobLost`` and the batch rolls
back). Between batches the runner calls ``run.stop_if_cancelled()``. Whatever marks the runner's place
(an import's next row) is written in the same transaction as the batch, so a job claimed again after
its worker died carries on from the last committed batch: no row lost, none done twice."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.core.errors import KebuError
from kebu.core.indexes import indexes_restore
from kebu.core.models import Job, JobStatus

log = logging.getLogger(__name__)

# A running job whose heartbeat is older than this is taken to be dead: its worker was killed.
STALE_AFTER = timedelta(seconds=90)
# A queued job not claimed after this long has lost its task (e.g. the process died before enqueueing).
UNCLAIMED_AFTER = timedelta(minutes=2)
# A job that keeps killing its worker (say, a file that runs it out of memory) stops being retried.
MAX_ATTEMPTS = 5

Runner = Callable[["JobRun"], None]
_RUNNERS: dict[str, Runner] = {}


class JobCancelled(Exception):
    """The job was cancelled; raised between batches, after the last one committed."""


class JobLost(Exception):
    """Another worker claimed this job (this one was taken for dead): stop without committing."""


def job_runner(kind: str) -> Callable[[Runner], Runner]:
    """Register the function that does the work of jobs of ``kind``."""

    def register(func: Runner) -> Runner:
        _RUNNERS[kind] = func
        return func

    return register


@dataclass
class JobRun:
    """A claimed job in the hands of its runner."""

    job: Job
    on_beat: Callable[[Job], None] | None = None

    def beat(self, *, done: int | None = None, total: int | None = None) -> None:
        """Record progress and that this worker is alive. Call it inside the batch's transaction: when the
        claim is no longer ours, ``JobLost`` rolls the batch back."""
        changes: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if done is not None:
            changes["done"] = self.job.done = done
        if total is not None:
            changes["total"] = self.job.total = total
        if not Job.objects.filter(pk=self.job.pk, claim=self.job.claim).update(**changes):
            raise JobLost(f"job {self.job.pk} was claimed by another worker")
        if self.on_beat is not None:
            self.on_beat(self.job)

    def stop_if_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled


def job_create(*, kind: str, actor: Any, payload: dict[str, Any] | None = None, enqueue: bool = True) -> Job:
    """A queued job, handed to the task queue once the caller's transaction commits. ``enqueue=False``
    for a job its creator runs itself (``kebu import`` in the terminal)."""
    if kind not in _RUNNERS:
        raise ValueError(f"No runner for job kind {kind!r}")
    job = Job.objects.create(kind=kind, payload=payload or {}, created_by=actor)
    if enqueue:
        transaction.on_commit(lambda: job_enqueue(job.pk))
    return job


def job_enqueue(job_id: int) -> None:
    from kebu.core.tasks import job_run_task  # the task module imports this one

    job_run_task(job_id)


def job_claim(job_id: int, *, stale_after: timedelta = STALE_AFTER) -> JobRun | None:
    """Take the job if it is waiting, or running with a heartbeat older than ``stale_after`` (its worker
    died). One conditional UPDATE, so two workers never both win; None when this one did not."""
    now = timezone.now()
    claim = uuid.uuid4().hex
    taken = (
        Job.objects.filter(pk=job_id, cancel_requested=False, attempts__lt=MAX_ATTEMPTS)
        .filter(Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after))
        .update(
            status=JobStatus.RUNNING,
            claim=claim,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
        )
    )
    return JobRun(Job.objects.get(pk=job_id)) if taken else None


def job_run(
    job_id: int, *, stale_after: timedelta = STALE_AFTER, on_beat: Callable[[Job], None] | None = None
) -> Job | None:
    """Claim the job and run it to its end. A job someone else holds, or that is finished, is left
    alone (a task delivered twice is harmless). Returns the job as it ended, or None if not claimed.
    ``on_beat`` sees the job at each heartbeat (the terminal's progress line)."""
    run = job_claim(job_id, stale_after=stale_after)
    if run is None:
        return None
    run.on_beat = on_beat
    runner = _RUNNERS.get(run.job.kind)
    status, error = JobStatus.DONE, ""
    try:
        if runner is None:
            raise KebuError(
                _("This version of Kebu cannot run jobs of kind “%(kind)s”.") % {"kind": run.job.kind}
            )
        runner(run)
    except JobCancelled:
        status = JobStatus.CANCELLED
    except JobLost:
        log.warning("job %s: claimed by another worker; this one stops", job_id)
        return None
    except KebuError as exc:
        status, error = JobStatus.FAILED, str(exc.message)
    except Exception as exc:
        log.exception("job %s (%s) failed", job_id, run.job.kind)
        status = JobStatus.FAILED
        error = _("Unexpected error (%(error)s). The server log has the details.") % {
            "error": type(exc).__name__
        }
    now = timezone.now()
    Job.objects.filter(pk=job_id, claim=run.job.claim).update(
        status=status, error=error, finished_at=now, heartbeat_at=now
    )
    try:
        # What the job set aside for its bulk writes comes back now that it has ended: after its status
        # is written, so that a long build is not taken for a dead worker and the job run again.
        indexes_restore(job=run.job)
    except Exception:
        log.exception("job %s: its indexes set aside are left to the reconciler", job_id)
    return Job.objects.get(pk=job_id)


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A waiting job stops at once; a running one after the batch it is in, keeping
    the batches already committed (an import can then be undone)."""
    now = timezone.now()
    Job.objects.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        cancel_requested=True
    )
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(status=JobStatus.CANCELLED, finished_at=now)
    job.refresh_from_db()
    return job


def job_retry(*, job: Job) -> Job:
    """Queue a failed job again (after the cause was fixed); it goes on from its last committed batch."""
    Job.objects.filter(pk=job.pk, status=JobStatus.FAILED).update(
        status=JobStatus.QUEUED, error="", attempts=0, finished_at=None
    )
    job.refresh_from_db()
    return job


def jobs_reconcile(
    *, stale_after: timedelta = STALE_AFTER, unclaimed_after: timedelta = UNCLAIMED_AFTER
) -> int:
    """Queue again every job whose task was lost: waiting and never claimed for a while, or running with
    a stale heartbeat. A job that has used up its attempts is marked failed instead. Returns how many
    jobs were queued again. Safe to run anywhere, any number of times: the claim decides who works."""
    now = timezone.now()
    lost = Job.objects.filter(
        Q(status=JobStatus.QUEUED, created_at__lt=now - unclaimed_after, cancel_requested=False)
        | Q(status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after)
    )
    exhausted = lost.filter(attempts__gte=MAX_ATTEMPTS)
    exhausted.update(
        status=JobStatus.FAILED,
        finished_at=now,
        error=_("Stopped after %(count)d attempts: each time its worker died before it finished.")
        % {"count": MAX_ATTEMPTS},
    )
    # A running job asked to stop whose worker died is finished as cancelled, not started again.
    lost.filter(status=JobStatus.RUNNING, cancel_requested=True).update(
        status=JobStatus.CANCELLED, finished_at=now
    )
    ids = list(lost.filter(attempts__lt=MAX_ATTEMPTS, cancel_requested=False).values_list("pk", flat=True))
    for job_id in ids:
        job_enqueue(job_id)
    # Indexes a job set aside come back once it is no longer running: one that ended without getting
    # to it (it used up its attempts, was cancelled while waiting) leaves them to this.
    indexes_restore(orphaned=True)
    return len(ids)
