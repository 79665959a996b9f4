"""The audit log in the admin: read only. Nobody adds, changes or deletes entries, superusers included."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kebu.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("seq", "at", "actor_label", "ip", "action", "target_type", "target_id", "target_repr")
    list_filter = ("action",)
    search_fields = ("actor_label", "target_id", "target_repr")
    readonly_fields = tuple(f.name for f in AuditEntry._meta.fields)
    ordering = ("-seq",)
    show_full_result_count = False  # COUNT(*) over a long log on every page is slow, and says little
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
