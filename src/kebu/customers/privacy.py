"""Who sees a customer's contact details in full: one policy, used by pages, the API and exports.

Contact details are the phones, email, street addresses, receiver phones, social account IDs, notes (free
text about a person) and consent evidence. Someone with ``customers.view_contact`` sees them; anyone else
sees them masked (``138****5678``, ``z***@qq.com``) everywhere, markup, attributes, JSON and CSV included,
because the masking happens here, before a value reaches a template or serializer. Someone with
``customers.reveal_contact`` may reveal one masked value at a time, and each reveal is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from kebu.core.masking import mask

# The kinds a value can be masked as (kebu.core.masking.MASKERS).
PHONE, EMAIL, SOCIAL, ADDRESS, TEXT = "phone", "email", "social", "address", "text"


@dataclass(frozen=True)
class ContactPolicy:
    can_see: bool
    can_reveal: bool

    def show(self, kind: str, value: str | None) -> str:
        """``value`` as this person may see it: in full, or masked as ``kind``."""
        value = value or ""
        return value if self.can_see else mask(kind, value)

    @property
    def masked(self) -> bool:
        return not self.can_see


NOBODY = ContactPolicy(can_see=False, can_reveal=False)


def contact_policy(user: Any) -> ContactPolicy:
    """What ``user`` may see of contact details. Reads permissions only, never a role's name."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOBODY
    can_see = user.has_perm("customers.view_contact")
    return ContactPolicy(can_see=can_see, can_reveal=can_see or user.has_perm("customers.reveal_contact"))


# Changes on the timeline carry before/after strings; these fields hold contact details.
CONTACT_CHANGE_KINDS = {
    "email": EMAIL,
    "phones": PHONE,
    "addresses": TEXT,
    "socials": TEXT,
    "notes": TEXT,
}


def show_change(policy: ContactPolicy, field: str, value: str) -> str:
    """One side of a timeline change (``"+8613812345678, +8613900001111"`` for phones) as ``policy``
    allows: contact fields masked item by item for phones, entirely for free text."""
    kind = CONTACT_CHANGE_KINDS.get(field)
    if kind is None or policy.can_see or not value:
        return value
    if kind == PHONE:
        return ", ".join(mask(PHONE, item) for item in value.split(", "))
    return policy.show(kind, value)


# What a reveal may ask for: field -> (kind, related name of the rows it lives in or None, attribute).
REVEALABLE: dict[str, tuple[str, str | None, str]] = {
    "phone": (PHONE, "phones", "number"),
    "email": (EMAIL, None, "email"),
    "address": (ADDRESS, "addresses", "detail"),
    "receiver_phone": (PHONE, "addresses", "receiver_phone"),
    "social": (SOCIAL, "socials", "handle"),
    "notes": (TEXT, None, "notes"),
    "evidence": (TEXT, "consents", "evidence"),
}
# Each as a person knows it, for the audit log's reveal entries.
REVEALABLE_LABELS: dict[str, Any] = {
    "phone": _("Phone"),
    "email": _("Email"),
    "address": _("Address"),
    "receiver_phone": _("Receiver phone"),
    "social": _("Social accounts"),
    "notes": _("Notes"),
    "evidence": _("Consent evidence"),
}


def contact_value(*, customer: Any, field: str, item: Any = None) -> tuple[str, str]:
    """(kind, full value) of one contact detail of ``customer``: ``field`` names it, ``item`` is the id
    of the phone, address, account or consent it belongs to. ``NotFound`` for anything else."""
    from kebu.core.errors import NotFound

    if field not in REVEALABLE:
        raise NotFound()
    kind, related, attribute = REVEALABLE[field]
    if related is None:
        return kind, getattr(customer, attribute) or ""
    row = next((r for r in getattr(customer, related).all() if str(r.pk) == str(item)), None)
    if row is None:
        raise NotFound()
    return kind, getattr(row, attribute) or ""
