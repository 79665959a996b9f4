"""Every computation of the insights area leaves a run: what was computed, when, with which settings,
and its result or why there is none. Pages show the latest finished run of their kind and its time, so
a merchant always knows how fresh a figure is; a failed or interrupted run never replaces a good one."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kebu.insights.messages import message_shown


class InsightKind(models.TextChoices):
    DASHBOARD = "dashboard", _("Dashboard figures")
    SCORES = "scores", _("RFM, value tiers, CLV and churn risk")
    FORECAST = "forecast", _("Sales forecast")
    BASKETS = "baskets", _("Frequently bought together")
    COHORTS = "cohorts", _("Cohort retention")
    CLUSTERS = "clusters", _("Customer clusters")


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class InsightRun(models.Model):
    kind = models.CharField(_("analysis"), max_length=20, choices=InsightKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    params = models.JSONField(_("settings used"), default=dict, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    message = models.CharField(
        _("message"),
        max_length=500,
        blank=True,
        help_text=_("Why a run failed, or why it found too few data."),
    )
    message_parts = models.JSONField(
        _("message, as made by the run"),
        default=dict,
        blank=True,
        editable=False,
        help_text=_(
            "What the message is written from, so it reads in each reader's language. Empty for a run "
            "made before runs kept it."
        ),
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
        help_text=_("Empty for the nightly run."),
    )

    class Meta:
        verbose_name = _("analysis run")
        verbose_name_plural = _("analysis runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["kind", "status", "-finished_at"], name="insight_run_latest")]
        permissions = [
            ("view_insights", _("Can see the dashboard and the scores of the customers they may see")),
            ("view_shop_insights", _("Can see shop-wide analyses: forecast, baskets, cohorts, clusters")),
            ("run_insights", _("Can start an analysis now")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def shown_message(self) -> str:
        """The message in the active language, written again from its parts; a run's stored message when
        it has none it can read."""
        return message_shown(self.message_parts, self.message)
