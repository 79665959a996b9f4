"""The insights area in the Django admin. Each analysis keeps its part in one block."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from kebu.audit.services import audit_record
from kebu.insights.models.scores import CustomerScore, ScoreSettings

# --- scores (RFM, tiers, CLV, churn, credit risk) --------------------------------------------------------


@admin.register(ScoreSettings)
class ScoreSettingsAdmin(admin.ModelAdmin):
    """One row, like the shop settings: the list opens it, it cannot be added twice or deleted."""

    fieldsets = [
        (None, {"fields": ["rfm_method", "r_cuts_days", "f_cuts_orders", "m_cuts_cny", "high_from_score"]}),
        (
            _("Value tiers"),
            {
                "fields": [
                    "tier_high_spent_cny",
                    "tier_high_orders",
                    "tier_middle_spent_cny",
                    "tier_middle_orders",
                    "tier_match",
                ]
            },
        ),
        (
            _("Churn risk"),
            {
                "fields": [
                    "churn_ratio_medium",
                    "churn_ratio_high",
                    "churn_p_alive_medium",
                    "churn_p_alive_high",
                ]
            },
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ScoreSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return redirect("admin:insights_scoresettings_change", ScoreSettings.current().pk)

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: ScoreSettings, form: Any, change: bool) -> None:
        before = ScoreSettings.read().as_params()
        super().save_model(request, obj, form, change)
        after = obj.as_params()
        changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
        if changes:
            audit_record(action="insights.score_settings", actor=request.user, target=obj, changes=changes)


@admin.register(CustomerScore)
class CustomerScoreAdmin(admin.ModelAdmin):
    """Read only: the scores are rewritten by each run."""

    list_display = [
        "customer",
        "segment",
        "tier",
        "r_score",
        "f_score",
        "m_score",
        "clv_365_cny",
        "churn_risk",
        "credit_score",
        "computed_at",
    ]
    list_filter = ["segment", "tier", "churn_risk"]
    list_select_related = ["customer"]
    search_fields = ["customer__customer_no"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
