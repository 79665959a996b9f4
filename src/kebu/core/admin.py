from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from kebu.core.forms import SHOP_SETTINGS_GROUPS
from kebu.core.models import ShopSettings
from kebu.core.services import shop_settings_update

admin.site.site_header = _("Kebu settings")
admin.site.site_title = _("Kebu")
admin.site.index_title = _("Shop settings")


@admin.register(ShopSettings)
class ShopSettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it straight away, and it can be neither added twice nor deleted."""

    fieldsets = [(title, {"fields": list(names)}) for title, names in SHOP_SETTINGS_GROUPS]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ShopSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        settings_row = ShopSettings.current()
        return redirect("admin:core_shopsettings_change", settings_row.pk)

    def save_model(self, request: HttpRequest, obj: ShopSettings, form: Any, change: bool) -> None:
        # Saved as the settings page saves (audited, told to the apps that act on it), by one service.
        saved = shop_settings_update(actor=request.user, data=form.cleaned_data)
        obj.pk, obj.updated_at = saved.row.pk, saved.row.updated_at
        obj._state.adding = False
        for reply in saved.replies:
            messages.info(request, reply)
