from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from kebu.audit.services import audit_record
from kebu.core.models import ShopSettings, shop_settings_changed

admin.site.site_header = _("Kebu settings")
admin.site.site_title = _("Kebu")
admin.site.index_title = _("Shop settings")


@admin.register(ShopSettings)
class ShopSettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it straight away, and it can be neither added twice nor deleted."""

    fieldsets = [
        (_("Customers"), {"fields": ["shared_pool_enabled"]}),
        (
            _("Lifecycle stages"),
            {"fields": ["stage_auto", "stage_repeat_orders", "stage_vip_spent_cny", "stage_churn_days"]},
        ),
        (_("Credit"), {"fields": ["credit_over_limit"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ShopSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        settings_row = ShopSettings.current()
        return redirect("admin:core_shopsettings_change", settings_row.pk)

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: ShopSettings, form: Any, change: bool) -> None:
        # Switching the shared pool changes who sees which customers: the audit log keeps it.
        changes = {
            name: [_plain(form.initial.get(name)), _plain(form.cleaned_data.get(name))]
            for name in form.changed_data
        }
        super().save_model(request, obj, form, change)
        if not changes:
            return
        audit_record(action="settings.change", actor=request.user, target=obj, changes=changes)
        replies = shop_settings_changed.send(sender=ShopSettings, changed=set(changes), actor=request.user)
        for _receiver, reply in replies:
            if reply:
                messages.info(request, reply)


def _plain(value: Any) -> Any:
    """A value the audit log's JSON can hold as it reads (a Decimal as "5000.00")."""
    return value if value is None or isinstance(value, bool | int | str) else str(value)
