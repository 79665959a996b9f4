"""The shop's service rules, edited in the admin: service levels per ticket category and follow-up plans."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from kebu.engagement.models import FollowUpPlan, SlaPolicy


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ("category", "first_response_hours", "resolution_hours")
    list_editable = ("first_response_hours", "resolution_hours")


@admin.register(FollowUpPlan)
class FollowUpPlanAdmin(admin.ModelAdmin):
    list_display = ("shown_name", "kind", "days", "custom_field", "assignee", "is_active")
    list_filter = ("kind", "is_active")

    @admin.display(description=_("name"), ordering="name")
    def shown_name(self, plan: FollowUpPlan) -> str:
        return plan.shown_name
