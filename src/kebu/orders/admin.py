"""The shop's stores in the Django admin, beside the customers' tags and sources. Saving goes through the
store services, so the admin refuses what the Stores page refuses and each change is audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from kebu.orders.models import Store
from kebu.orders.services.stores import store_create, store_errors, store_update


class StoreAdminForm(forms.ModelForm):
    class Meta:
        model = Store
        fields = ("name", "platform", "position", "is_active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.has_error("name") and not self.has_error("position"):
            errors = store_errors(
                name=cleaned.get("name") or "",
                platform=cleaned.get("platform") or "",
                position=cleaned.get("position") or 0,
                store=self.instance if self.instance.pk else None,
            )
            for field, messages in errors.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    """Never deleted, here as on the Stores page: orders, reviews and imports refer to a store. A store
    no longer sold in is made inactive."""

    form = StoreAdminForm
    list_display = ("name", "platform", "position", "is_active")
    list_filter = ("platform", "is_active")
    search_fields = ("name",)

    def get_fields(self, request: HttpRequest, obj: Store | None = None) -> Any:
        # A new store starts active, as on the Stores page.
        return ["name", "platform", "position", "is_active"] if obj else ["name", "platform", "position"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Store, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            stored = Store.objects.get(pk=obj.pk)
            saved = store_update(
                actor=request.user,
                store=stored,
                name=data["name"],
                platform=data["platform"],
                position=data["position"],
                is_active=data["is_active"],
            )
        else:
            saved = store_create(
                actor=request.user, name=data["name"], platform=data["platform"], position=data["position"]
            )
        obj.pk, obj.is_active = saved.pk, saved.is_active
