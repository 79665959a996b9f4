from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _group_str(group: Any) -> str:
    from kebu.accounts.roles import role_name

    return role_name(group.name)


class AccountsConfig(AppConfig):
    name = "kebu.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.models import Group

        # A role is Django's Group, which names itself by its stored name: for the roles Kebu made, the
        # Chinese it was created with and is found by. Wherever a group is named (a staff member's roles
        # and the roles filter in the admin, the roles' own pages) it reads as its role in the reader's
        # language instead, until the shop renames it.
        Group.__str__ = _group_str  # type: ignore[method-assign]
