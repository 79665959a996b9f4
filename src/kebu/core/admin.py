from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from kebu.core.errors import Conflict
from kebu.core.forms import SHOP_SETTINGS_GROUPS, ShopSettingsForm
from kebu.core.models import ShopSettings
from kebu.core.services import shop_settings_update

admin.site.site_header = _("Kebu settings")
admin.site.site_title = _("Kebu")
admin.site.index_title = _("Shop settings")


@admin.register(ShopSettings)
class ShopSettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it straight away (made on first use), and it can be neither added nor
    deleted. Its form
    is the settings page's, so a form older than a colleague's save is refused here too, not saved over
    theirs."""

    form = ShopSettingsForm
    # The form's hidden time of the save it showed rides in the first group. It is the form's own field,
    # not the model's (which no form edits): excluding the model's is what lets the admin render it.
    fieldsets = [
        (title, {"fields": [*names, "updated_at"] if index == 0 else list(names)})
        for index, (title, names) in enumerate(SHOP_SETTINGS_GROUPS)
    ]
    exclude = ["updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the list makes the row when there is none; a form of no save shown is refused

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        settings_row = ShopSettings.current()
        return redirect("admin:core_shopsettings_change", settings_row.pk)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Conflict as exc:
            # A colleague saved since this form was shown; the admin's transaction took back this save.
            # The settings as they are now, with why, rather than an error page.
            self.message_user(request, exc.message, messages.ERROR)
            return redirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: ShopSettings, form: Any, change: bool) -> None:
        # Saved as the settings page saves (audited, told to the apps that act on it), by one service.
        saved = shop_settings_update(
            actor=request.user, data=form.cleaned_data, expected_updated_at=form.cleaned_data["updated_at"]
        )
        obj.pk, obj.updated_at = saved.row.pk, saved.row.updated_at
        obj._state.adding = False
        for reply in saved.replies:
            messages.info(request, reply)
