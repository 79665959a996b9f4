"""Indexes set aside for a bulk write come back exactly as they were, however the write ends."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from kebu.core.indexes import indexes_restore, indexes_set_aside
from kebu.core.jobs import job_create, job_run, job_runner, jobs_reconcile
from kebu.core.models import Job, JobStatus, SetAsideIndex
from kebu.core.tests.copies import shop_copy
from kebu.customers.models import Customer

pytestmark = pytest.mark.django_db
sqlite_only = pytest.mark.skipif(
    "connection.vendor != 'sqlite'", reason="PostgreSQL's indexes are never set aside"
)


@job_runner("test.aside-and-crash")
def _aside_and_crash(run):
    indexes_set_aside(Customer, job=run.job)
    raise ZeroDivisionError


@job_runner("test.aside-unbuildable")
def _aside_unbuildable(run):
    SetAsideIndex.objects.create(
        name="gone", table="nowhere", sql='CREATE INDEX "gone" ON "nowhere" ("x")', job=run.job
    )


def indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
            [Customer._meta.db_table],
        )
        return dict(cursor.fetchall())


def job(status: str = JobStatus.RUNNING) -> Job:
    return Job.objects.create(kind="import", status=status, heartbeat_at=timezone.now())


@sqlite_only
def test_the_list_indexes_go_and_come_back_as_they_were_the_rules_and_kept_ones_stay():
    before = indexes()
    running = job()

    count = indexes_set_aside(Customer, job=running, keep=["name"])

    left = indexes()
    assert count == len(before) - len(left) > 20
    assert {"cust_name", "cust_active_created", "cust_spent"} <= before.keys()
    assert "cust_name" in left and "cust_active_created" not in left and "cust_spent" not in left
    assert all("UNIQUE" in sql or sql.startswith('CREATE INDEX "cust_name"') for sql in left.values())
    assert set(SetAsideIndex.objects.values_list("name", flat=True)) == before.keys() - left.keys()

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache = cursor.fetchone()
        assert indexes_restore(job=running) == count
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone() == cache, "the connection's page cache is as it was before the builds"
    assert indexes() == before and not SetAsideIndex.objects.exists()


@sqlite_only
def test_only_the_indexes_of_jobs_no_longer_running_are_orphans():
    before = indexes()
    running, ended = job(), job()
    indexes_set_aside(Customer, job=running, keep=["name"])
    # Another job's are those it finds still there: here, all of them are gone already.
    assert indexes_set_aside(Customer, job=ended, keep=["name"]) == 0
    SetAsideIndex.objects.filter(name__in=["cust_spent", "cust_orders"]).update(job=ended)
    Job.objects.filter(pk=ended.pk).update(status=JobStatus.FAILED)

    assert indexes_restore(orphaned=True) == 2
    assert {"cust_spent", "cust_orders"} <= indexes().keys()
    assert SetAsideIndex.objects.filter(job=running).count() == len(before) - len(indexes())

    running.delete()  # a deleted job's indexes are orphans too
    assert indexes_restore(orphaned=True) > 0 and indexes() == before


@sqlite_only
def test_the_reconciler_makes_again_what_a_job_that_ran_out_of_attempts_set_aside():
    before = indexes()
    dead = job()
    indexes_set_aside(Customer, job=dead)
    Job.objects.filter(pk=dead.pk).update(attempts=99, heartbeat_at=timezone.now() - timedelta(hours=1))

    jobs_reconcile()

    dead.refresh_from_db()
    assert dead.status == JobStatus.FAILED and indexes() == before


@sqlite_only
def test_a_job_gets_its_indexes_back_when_it_ends_even_by_crashing():
    before = indexes()

    job = job_run(job_create(kind="test.aside-and-crash", actor=None, enqueue=False).pk)

    assert job.status == JobStatus.FAILED and indexes() == before and not SetAsideIndex.objects.exists()


@sqlite_only
def test_an_index_that_cannot_be_built_again_does_not_turn_a_finished_job_into_an_error(caplog):
    job = job_run(job_create(kind="test.aside-unbuildable", actor=None, enqueue=False).pk)

    assert job.status == JobStatus.DONE and job.error == ""
    assert SetAsideIndex.objects.filter(name="gone").exists(), "kept for the reconciler to try again"
    assert "left to the reconciler" in caplog.text


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_migration_finds_the_schema_it_declared():
    before = indexes()
    indexes_set_aside(Customer, job=job())
    assert indexes() != before

    call_command("migrate", verbosity=0)

    assert indexes() == before and not SetAsideIndex.objects.exists()


@pytest.mark.skipif("connection.vendor == 'sqlite'", reason="what PostgreSQL does")
def test_postgresql_keeps_its_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [Customer._meta.db_table])
        before = cursor.fetchone()[0]
        assert indexes_set_aside(Customer, job=job()) == 0
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [Customer._meta.db_table])
        assert cursor.fetchone()[0] == before > 20


BUILDS_WATCHED = """
from django.db import connection
from kebu.core.indexes import indexes_restore, indexes_set_aside
from kebu.core.models import Job, JobStatus
from kebu.customers.models import Customer

seen = []
def watch(execute, sql, params, many, context):
    if sql.startswith("CREATE INDEX"):
        seen.append(context["cursor"].execute("PRAGMA mmap_size").fetchone()[0])
    return execute(sql, params, many, context)

job = Job.objects.create(kind="import", status=JobStatus.DONE)
indexes_set_aside(Customer, job=job)
with connection.execute_wrapper(watch):
    indexes_restore(job=job)
with connection.cursor() as cursor:
    cursor.execute("PRAGMA mmap_size")
    print("MAPPED", seen and max(seen), len(seen), cursor.fetchone()[0])
"""


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_indexes_are_built_again_reading_the_table_without_the_memory_map(tmp_path):
    """Through SQLite's memory map every page a build reads stays in the process; a file database has one
    (the test database, in memory, has none: hence a process of its own on a copy)."""
    env = shop_copy(tmp_path / "data")

    done = subprocess.run(
        [sys.executable, "-m", "kebu.cli", "shell", "-c", BUILDS_WATCHED],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("MAPPED ")]
    largest, builds, after = line.split()[1:]
    assert int(builds) > 20
    assert largest == "0", "a build read the table through the memory map"
    assert int(after) > 0, "the connection's map is put back after the builds"
