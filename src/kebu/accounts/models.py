from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    """A group of staff led by a manager: someone allowed to see their team's customers sees those whose
    owner is a member (``customers.view_team_customers``)."""

    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A member of the shop's staff. Its own model from day one, so later fields need no swap."""

    display_name = models.CharField(
        _("display name"), max_length=50, blank=True, help_text=_("How colleagues see this person.")
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("team"),
        help_text=_("Managers see the customers of everyone in their team."),
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("staff member")
        verbose_name_plural = _("staff members")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username
