from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.dispatch import Signal
from django.utils.translation import gettext_lazy as _


class Sequence(models.Model):
    """A named counter, bumped inside the caller's transaction (readable numbers such as C000123)."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    value = models.BigIntegerField(_("last value"), default=0)

    class Meta:
        verbose_name = _("sequence")
        verbose_name_plural = _("sequences")

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class IdempotencyKey(models.Model):
    """A client-chosen key for one write: a double-clicked submit or a retried API call writes once."""

    key = models.CharField(_("key"), max_length=80)
    scope = models.CharField(_("scope"), max_length=50)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name=_("actor"))
    object_id = models.BigIntegerField(_("object id"))
    fingerprint = models.CharField(
        _("fingerprint"),
        max_length=64,
        blank=True,
        help_text=_("A hash of what the first request asked for."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["actor", "scope", "key"], name="core_idempotency_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class EncryptionKey(models.Model):
    """A key the database has data under, recognised by a check value; the key itself stays outside.

    ``kebu.core.crypto.keyring_check`` compares these with the keyring at start."""

    key_id = models.CharField(_("key id"), max_length=40, unique=True)
    check_value = models.CharField(_("check value"), max_length=64)
    created_at = models.DateTimeField(_("created at"))
    retired_at = models.DateTimeField(
        _("retired at"),
        null=True,
        blank=True,
        help_text=_("Set when no value is encrypted with it any more."),
    )

    class Meta:
        verbose_name = _("encryption key")
        verbose_name_plural = _("encryption keys")

    def __str__(self) -> str:
        return self.key_id


# Sent by ``kebu.core.services.shop_settings_update`` (the settings page and the admin both save through
# it), inside its transaction once the change is saved, with ``changed`` (the names of the fields that
# changed) and ``actor``. A receiver answers with a sentence for the person who saved, or
# None: the apps whose rules the settings hold (stages, credit) act on them without core knowing them.
shop_settings_changed = Signal()


class ShopSettings(models.Model):
    """Shop-wide switches an admin changes at run time (one row; see :meth:`current`)."""

    shared_pool_enabled = models.BooleanField(
        _("shared pool (公海)"),
        default=True,
        help_text=_("Customers without an owner are visible to every sales member, who can claim them."),
    )
    # Lifecycle stages move forward by themselves as customers buy (kebu.orders.services.metrics).
    stage_auto = models.BooleanField(
        _("move lifecycle stages automatically"),
        default=True,
        help_text=_("Lead → new customer at the first order → repeat buyer → VIP; never backwards."),
    )
    stage_repeat_orders = models.PositiveSmallIntegerField(
        _("orders for a repeat buyer"), default=2, validators=[MinValueValidator(2)]
    )
    stage_vip_spent_cny = models.DecimalField(
        _("total spent for VIP"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("5000"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    stage_churn_days = models.PositiveSmallIntegerField(
        _("days without an order before churned"),
        default=365,
        validators=[MinValueValidator(30)],
        help_text=_("Checked once a day; a churned customer who orders again moves back up."),
    )
    credit_over_limit = models.CharField(
        _("an order on credit beyond the limit"),
        max_length=5,
        choices=[("warn", _("warns, and may be confirmed")), ("block", _("is refused"))],
        default="warn",
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("shop settings")
        verbose_name_plural = _("shop settings")

    def __str__(self) -> str:
        return str(_("Shop settings"))

    @classmethod
    def current(cls) -> ShopSettings:
        """The row, created on first use: for editing."""
        return cls.objects.get_or_create(pk=1)[0]

    @classmethod
    def read(cls) -> ShopSettings:
        """The settings for reading: one query and no write; a shop that never saved them has the
        defaults (every request asks, so a read must not take SQLite's write lock). Inside
        ``shop_settings_held``, the reading it holds."""
        return _held_settings.get() or cls.objects.filter(pk=1).first() or cls(pk=1)


# What a person changes in the shop settings, on the settings page and in the admin alike.
SHOP_SETTINGS_FIELDS = (
    "shared_pool_enabled",
    "stage_auto",
    "stage_repeat_orders",
    "stage_vip_spent_cny",
    "stage_churn_days",
    "credit_over_limit",
)

_held_settings: ContextVar[ShopSettings | None] = ContextVar("held_settings", default=None)


@contextmanager
def shop_settings_held() -> Iterator[ShopSettings]:
    """Read the settings once for work that asks for them again and again, each order of an import's
    batch (the stage rules, the credit setting): inside, ``ShopSettings.read`` gives this reading
    without a query. A change saved meanwhile applies from the next such stretch."""
    held = ShopSettings.read()
    token = _held_settings.set(held)
    try:
        yield held
    finally:
        _held_settings.reset(token)


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Job(models.Model):
    """A piece of long work (an import, an export, a rebuild), as a row first and a queued task second.

    The queue may lose a task (Huey delivers at most once: a killed worker takes its task with it), so
    this row is what is true: a worker claims it with a conditional UPDATE that hands it a fresh
    ``claim``, commits each batch together with its heartbeat only while that claim is still its own,
    and a periodic reconciler queues again a job left waiting or with a stale heartbeat (see
    ``kebu.core.jobs``). What a job has done so far lives with the work (an import's next row), written in
    the batch's transaction, so a resumed job neither skips nor repeats anything."""

    kind = models.CharField(_("kind"), max_length=40)
    status = models.CharField(_("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    done = models.PositiveBigIntegerField(_("done"), default=0)
    total = models.PositiveBigIntegerField(_("total"), null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="core_job_status_beat")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}

    @property
    def percent(self) -> int | None:
        if not self.total:
            return 100 if self.status == JobStatus.DONE else None
        return min(100, int(self.done * 100 / self.total))


class SetAsideIndex(models.Model):
    """An index dropped for the length of a long bulk write (``kebu.core.indexes``), with the statement
    that makes it again. Dropped and recorded in one transaction, made again and forgotten in one, so the
    database never loses an index without this row saying how to get it back."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    table = models.CharField(_("table"), max_length=200)
    sql = models.TextField(_("SQL"))
    job = models.ForeignKey(
        Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("job")
    )
    set_aside_at = models.DateTimeField(_("set aside at"), auto_now_add=True)

    class Meta:
        verbose_name = _("index set aside")
        verbose_name_plural = _("indexes set aside")

    def __str__(self) -> str:
        return self.name
