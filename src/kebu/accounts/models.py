from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A member of the shop's staff. Its own model from day one, so later fields need no swap."""

    display_name = models.CharField(
        _("display name"), max_length=50, blank=True, help_text=_("How colleagues see this person.")
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("staff member")
        verbose_name_plural = _("staff members")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username
