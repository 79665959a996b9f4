from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from kebu.accounts.models import Team, User


@admin.register(User)
class KebuUserAdmin(UserAdmin):
    # A staff member's role is their groups (kebu.accounts.roles); their team decides what a manager sees.
    fieldsets = (*UserAdmin.fieldsets, (_("Kebu"), {"fields": ("display_name", "team")}))
    list_display = ("username", "display_name", "email", "team", "is_staff", "is_active")
    list_filter = (*UserAdmin.list_filter, "team")
    list_select_related = ("team",)


class MemberInline(admin.TabularInline):
    model = User
    fields = ("username", "display_name", "is_active")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("member")
    verbose_name_plural = _("members (set a member's team on their own page)")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count")
    search_fields = ("name",)
    inlines = [MemberInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count  # type: ignore[attr-defined]
