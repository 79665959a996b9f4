from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from kebu.accounts.models import User


@admin.register(User)
class KebuUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, (None, {"fields": ("display_name",)}))
    list_display = ("username", "display_name", "email", "is_staff", "is_active")
