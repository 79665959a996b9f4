"""Mapping presets: which column feeds which field, saved under a name and offered again for a file with
the same header (compared as ``headers.header_key`` compares words), so next month's export of the same
shop maps itself."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from kebu.core.errors import ValidationFailed
from kebu.core.text import list_join
from kebu.transfer.customers import customer_headers_match, mapping_check
from kebu.transfer.headers import header_key
from kebu.transfer.models import ImportKind, MappingPreset
from kebu.transfer.orders import order_headers_match, order_mapping_check
from kebu.transfer.products import product_headers_match, product_mapping_check
from kebu.transfer.reviews import review_headers_match, review_mapping_check

# What a preset of each kind must map, as its import requires it.
_MAPPING_CHECKS = {
    ImportKind.CUSTOMERS: mapping_check,
    ImportKind.PRODUCTS: product_mapping_check,
    ImportKind.ORDERS: order_mapping_check,
    ImportKind.REVIEWS: review_mapping_check,
}


def headers_signature(headers: Sequence[str]) -> str:
    """The same for two headers that name the same columns in the same order, however they are spaced,
    cased or marked required (``headers.header_key``)."""
    return hashlib.sha256("\x1f".join(header_key(h) for h in headers).encode("utf-8")).hexdigest()


@transaction.atomic
def mapping_preset_save(
    *,
    actor: Any,
    name: str,
    headers: Sequence[str],
    mapping: dict[int, str],
    kind: str = ImportKind.CUSTOMERS,
) -> tuple[MappingPreset, bool]:
    """Keep ``mapping`` (column index -> field key, for ``headers``) under ``name``, replacing a preset
    of that name. Kept by header, not by position, so a file with the same columns in another order
    takes it too. Returns the preset and whether it is new."""
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed(field_errors={"preset_name": [_("Name the preset.")]})
    _MAPPING_CHECKS[ImportKind(kind)](headers, mapping)
    fields = {
        "kind": kind,
        "headers": list(headers),
        "headers_signature": headers_signature(headers),
        "mapping": {header_key(headers[index]): key for index, key in sorted(mapping.items())},
    }
    return MappingPreset.objects.update_or_create(
        kind=kind, name=name, defaults=fields, create_defaults={**fields, "created_by": actor}
    )


def mapping_preset_apply(
    preset: MappingPreset, headers: Sequence[str], *, keys: set[str], guessed: Mapping[int, str]
) -> dict[int, str]:
    """The preset's mapping laid over ``headers``: each column whose header the preset names gets its
    field, if that field is one of ``keys`` (a custom field may have gone since) and not taken already.
    A column the preset's file did not have (next month's export called 联系方式 联系电话) gets the field
    ``guessed`` from its header, if no column has it yet; one the preset's file had and left out stays
    out."""
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = preset.mapping.get(header_key(header))
        if key in keys and key not in mapping.values():
            mapping[index] = key
    known = {header_key(header) for header in preset.headers} | set(preset.mapping)
    for index, header in enumerate(headers):
        key = guessed.get(index)
        if header_key(header) not in known and key in keys and key not in mapping.values():
            mapping[index] = key
    return mapping


def mapping_preset_for(headers: Sequence[str], *, kind: str = ImportKind.CUSTOMERS) -> MappingPreset | None:
    """The preset saved from a file with exactly these columns (the newest, if several were)."""
    return (
        MappingPreset.objects.filter(kind=kind, headers_signature=headers_signature(headers))
        .order_by("-updated_at", "-pk")
        .first()
    )


def mapping_preset_named(
    name: str, headers: Sequence[str], *, kind: str = ImportKind.CUSTOMERS
) -> dict[int, str]:
    """The mapping the preset of ``kind`` called ``name`` gives a file with ``headers`` (``kebu import
    --preset``). ``ValidationFailed``, naming the presets there are, when there is none of that name."""
    from kebu.customers.models import CustomField
    from kebu.transfer.customers import CUSTOM_PREFIX
    from kebu.transfer.headers import CUSTOMER_HEADERS, ORDER_HEADERS, PRODUCT_HEADERS, REVIEW_HEADERS

    presets = MappingPreset.objects.filter(kind=kind)
    preset = presets.filter(name=" ".join(name.split())).first()
    if preset is None:
        known = list_join(presets.order_by("name").values_list("name", flat=True)) or "-"
        raise ValidationFailed(
            _("There is no preset “%(name)s” (presets: %(known)s).") % {"name": name, "known": known}
        )
    if kind == ImportKind.PRODUCTS:
        keys, guessed = set(PRODUCT_HEADERS), product_headers_match(headers)
    elif kind == ImportKind.ORDERS:
        keys, guessed = set(ORDER_HEADERS), order_headers_match(headers)
    elif kind == ImportKind.REVIEWS:
        keys, guessed = set(REVIEW_HEADERS), review_headers_match(headers)
    else:
        definitions = list(CustomField.objects.filter(is_active=True))
        keys = set(CUSTOMER_HEADERS) | {CUSTOM_PREFIX + d.key for d in definitions}
        guessed = customer_headers_match(headers, definitions)
    return mapping_preset_apply(preset, headers, keys=keys, guessed=guessed)
