"""Every write to customer profiles. Each public service owns its transaction, validates the whole
input first (so nothing is half-written), keeps the derived columns, and writes the timeline event."""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kebu.audit.services import audit_records
from kebu.core import divisions, lunar
from kebu.core.bulk import row_update, values_insert
from kebu.core.crypto import keyring
from kebu.core.errors import Conflict, DuplicateWarning, Forbidden, ValidationFailed
from kebu.core.lookup import phone_last4_lookup, phone_lookup, text_lookup
from kebu.core.masking import mask_address, mask_email, mask_phone, mask_text
from kebu.core.phone import parse_phone
from kebu.core.services import idempotent, sequence_next
from kebu.core.text import list_join, name_tidy, pinyin_keys
from kebu.customers import access, events
from kebu.customers.models import (
    Address,
    Consent,
    ConsentChannel,
    ConsentMethod,
    Customer,
    CustomerEvent,
    CustomerPhone,
    CustomerType,
    CustomField,
    CustomFieldType,
    Gender,
    SocialAccount,
    SocialKind,
    SourceChannel,
    Stage,
    Tag,
    custom_yes_no,
)
from kebu.customers.selectors import phone_owners_for, shared_pool_enabled

CUSTOMER_NO_SEQUENCE = "customer_no"
MAX_PHONES = 10
MAX_ADDRESSES = 20
MAX_SOCIALS = 20
CUSTOM_NUMBER_LIMIT = Decimal("1e15")
# A choice's keys as sets, built once: ``Choices.values`` builds a new list each time it is read, and
# validation reads them for every row of an import.
_GENDER_KEYS = frozenset(Gender.values)
_CUSTOMER_TYPE_KEYS = frozenset(CustomerType.values)
_STAGE_KEYS = frozenset(Stage.values)
_PHONE_LABEL_KEYS = frozenset(CustomerPhone.Label.values)
_SOCIAL_KIND_KEYS = frozenset(SocialKind.values)
_CONSENT_CHANNEL_KEYS = frozenset(ConsentChannel.values)
_CONSENT_METHOD_KEYS = frozenset(ConsentMethod.values)


@dataclass
class PhoneInput:
    number: str
    label: str = CustomerPhone.Label.MOBILE


@dataclass
class AddressInput:
    """An address, or a region alone: the province (city and district optional) without ``detail``, the
    street, which many a merchant's sheet does not have. A street needs its province."""

    province: str
    detail: str = ""
    city: str = ""
    district: str = ""
    receiver: str = ""
    receiver_phone: str = ""
    is_default: bool = False


ADDRESS_FIELDS = tuple(f.name for f in fields(AddressInput))


@dataclass
class SocialInput:
    kind: str
    handle: str
    kind_label: str = ""


@dataclass
class ConsentInput:
    channel: str
    granted: bool
    method: str
    evidence: str = ""
    recorded_at: datetime | None = None


@dataclass
class CustomerInput:
    """Everything a profile form or API call may set. Owner-only and derived fields are absent."""

    name: str = ""
    gender: str = Gender.UNKNOWN
    birthday: date | None = None
    birthday_is_lunar: bool = False
    email: str = ""
    customer_type: str = CustomerType.INDIVIDUAL
    stage: str = Stage.LEAD
    source: SourceChannel | None = None
    referrer: Customer | None = None
    owner: Any = None
    notes: str = ""
    custom: dict[str, Any] = field(default_factory=dict)
    tags: Sequence[Tag] = ()
    phones: Sequence[PhoneInput] = ()
    addresses: Sequence[AddressInput] = ()
    socials: Sequence[SocialInput] = ()
    consents: Sequence[ConsentInput] = ()


PROFILE_FIELDS = (
    "name",
    "gender",
    "birthday",
    "birthday_is_lunar",
    "email",
    "customer_type",
    "stage",
    "source",
    "referrer",
    "owner",
    "notes",
    "custom",
)


# --- validation ------------------------------------------------------------------------------------


@dataclass
class _Clean:
    phones: list[tuple[str, str, str, str]]  # (e164, label, lookup, last4)
    email_lookup: str
    custom: dict[str, Any]
    active_custom_keys: frozenset[str]  # the definitions ``custom`` was checked against


def _add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


def custom_values_clean(
    raw: dict[str, Any],
    *,
    errors: dict[str, list[Any]],
    definitions: Sequence[CustomField] | None = None,
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate the values of the active custom fields; other keys are not taken from input. ``stored``:
    the customer's values so far; a choice among them stays valid after the shop renamed or dropped it,
    as a phone already on the profile is not questioned again."""
    cleaned: dict[str, Any] = {}
    if definitions is None:
        definitions = list(CustomField.objects.filter(is_active=True))
    stored = stored or {}
    for definition in definitions:
        value = raw.get(definition.key)
        key = f"custom.{definition.key}"
        if value in (None, "", []):
            if definition.required:
                _add(errors, key, _("“%(label)s” is required.") % {"label": definition.label})
            continue
        checked = definition
        if definition.field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI):
            had = stored.get(definition.key)
            had_values = [str(v) for v in (had if isinstance(had, list) else [had]) if v not in (None, "")]
            if any(v not in definition.choices for v in had_values):
                checked = copy.copy(definition)
                checked.choices = [
                    *definition.choices,
                    *(v for v in had_values if v not in definition.choices),
                ]
        try:
            cleaned[definition.key] = _custom_value(checked, value)
        except ValueError:
            shown = {"value": str(value)[:40], "label": definition.label}
            if definition.field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI):
                # As the built-in choices are refused: with what there is to choose from.
                choices = list_join(definition.choices)
                if isinstance(value, list | tuple):  # a multiple choice: the values there is not
                    shown["value"] = list_join(v for v in value if str(v) not in definition.choices)[:40]
                message = _("“%(value)s” is not one of the %(label)s choices: %(choices)s.")
                _add(errors, key, message % {**shown, "choices": choices})
            elif definition.field_type == CustomFieldType.BOOL:
                _add(
                    errors,
                    key,
                    _("“%(value)s” is not a valid %(label)s: write 是 or 否 (yes or no).") % shown,
                )
            else:
                _add(errors, key, _("“%(value)s” is not a valid %(label)s.") % shown)
    return cleaned


def _custom_value(definition: CustomField, value: Any) -> Any:
    kind = definition.field_type
    if kind == CustomFieldType.TEXT:
        text = str(value).strip()
        if len(text) > 500:
            raise ValueError
        return text
    if kind == CustomFieldType.NUMBER:
        try:
            number = Decimal(str(value).replace(",", "").strip())
        except InvalidOperation as exc:
            raise ValueError from exc
        # Bounded: int() of "1e999999999" would build a billion-digit integer (a request that never
        # ends), and JSON readers such as JavaScript keep integers exact only below 2**53.
        if not number.is_finite() or number.copy_abs() >= CUSTOM_NUMBER_LIMIT:
            raise ValueError
        # JSON has no decimals: whole numbers stay ints, others keep their digits as a float.
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == CustomFieldType.DATE:
        return (value if isinstance(value, date) else date.fromisoformat(str(value).strip())).isoformat()
    if kind == CustomFieldType.BOOL:
        if (answer := custom_yes_no(value)) is None:
            raise ValueError
        return answer
    if kind == CustomFieldType.CHOICE:
        if str(value) not in definition.choices:
            raise ValueError
        return str(value)
    if kind == CustomFieldType.MULTI:
        values = [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
        if any(v not in definition.choices for v in values):
            raise ValueError
        return values
    raise ValueError


def _validate(
    data: CustomerInput,
    *,
    customer: Customer | None,
    definitions: Sequence[CustomField] | None = None,
    name_needed: bool = True,
) -> _Clean:
    """Check the whole input; raise one ``ValidationFailed`` naming every bad field. ``definitions`` are the
    active custom fields, read here when not given; ``name_needed``: see ``customer_input_check``."""
    errors: dict[str, list[Any]] = {}
    if len(data.name) > 100:
        _add(errors, "name", _("A name has at most 100 characters."))
    if len(data.notes) > 5000:
        _add(errors, "notes", _("Notes have at most 5,000 characters."))
    if data.gender not in _GENDER_KEYS:
        _add(errors, "gender", _("Choose a gender from the list."))
    if data.customer_type not in _CUSTOMER_TYPE_KEYS:
        _add(errors, "customer_type", _("Choose a customer type from the list."))
    if data.stage not in _STAGE_KEYS:
        _add(errors, "stage", _("Choose a lifecycle stage from the list."))

    if data.birthday:
        today = timezone.localdate()
        if data.birthday > today:
            _add(errors, "birthday", _("A birthday cannot be in the future."))
        elif today.year - data.birthday.year > 120:
            _add(errors, "birthday", _("That would make the customer older than 120."))
        elif data.birthday_is_lunar and data.birthday < lunar.MIN_SOLAR:
            # ``birthday`` is the solar date of birth; a lunar one must be in the lunar calendar's table.
            _add(errors, "birthday", _("A lunar birthday can be kept for dates from 1900-01-31 on."))

    email_lookup = ""
    if len(data.email) > 254:
        _add(errors, "email", _("An email address has at most 254 characters."))
    elif data.email:
        try:
            validate_email(data.email.strip())
        except ValidationError:
            _add(errors, "email", _("“%(value)s” is not an email address.") % {"value": data.email[:60]})
        else:
            email_lookup = text_lookup(data.email)

    phones: list[tuple[str, str, str, str]] = []
    if len(data.phones) > MAX_PHONES:
        _add(errors, "phones", _("At most %(n)d phones.") % {"n": MAX_PHONES})
    for index, item in enumerate(data.phones[:MAX_PHONES]):
        try:
            parsed = parse_phone(item.number)
        except ValidationFailed as exc:
            _add(errors, f"phones.{index}.number", exc.message)
            continue
        if any(p[0] == parsed.e164 for p in phones):
            continue  # the same number twice in one form is one number
        label = item.label if item.label in _PHONE_LABEL_KEYS else CustomerPhone.Label.OTHER
        phones.append((parsed.e164, label, phone_lookup(parsed.e164), phone_last4_lookup(parsed.digits)))

    if name_needed and not data.name.strip() and not phones and not errors.get("phones.0.number"):
        _add(errors, "name", _("Give the customer a name or a phone number."))

    if len(data.addresses) > MAX_ADDRESSES:
        _add(errors, "addresses", _("At most %(n)d addresses.") % {"n": MAX_ADDRESSES})
    for index, address in enumerate(data.addresses):
        if not divisions.is_valid(address.province, address.city, address.district):
            _add(
                errors, f"addresses.{index}.province", _("Choose province, city and district from the list.")
            )
        if len(address.detail) > 200 or len(address.receiver) > 50 or len(address.city) > 30:
            _add(errors, f"addresses.{index}.detail", _("The address is too long."))
        if address.receiver_phone:
            try:
                parse_phone(address.receiver_phone)
            except ValidationFailed as exc:
                _add(errors, f"addresses.{index}.receiver_phone", exc.message)
    if sum(1 for a in data.addresses if a.is_default) > 1:
        _add(errors, "addresses", _("Only one address can be the default."))

    if len(data.socials) > MAX_SOCIALS:
        _add(errors, "socials", _("At most %(n)d social accounts.") % {"n": MAX_SOCIALS})
    for index, social in enumerate(data.socials):
        if social.kind not in _SOCIAL_KIND_KEYS:
            _add(errors, f"socials.{index}.kind", _("Choose an account type from the list."))
        if not social.handle.strip() or len(social.handle) > 100:
            _add(errors, f"socials.{index}.handle", _("Enter the account name (at most 100 characters)."))
        if len(social.kind_label) > 30:
            _add(errors, f"socials.{index}.kind_label", _("The type name has at most 30 characters."))

    for index, consent in enumerate(data.consents):
        if consent.channel not in _CONSENT_CHANNEL_KEYS:
            _add(errors, f"consents.{index}.channel", _("Unknown consent channel."))
        if consent.method not in _CONSENT_METHOD_KEYS:
            _add(errors, f"consents.{index}.method", _("Say how the consent was given."))

    if customer is not None and data.referrer is not None and data.referrer.pk == customer.pk:
        _add(errors, "referrer", _("A customer cannot refer themselves."))

    if definitions is None:
        definitions = list(CustomField.objects.filter(is_active=True))
    custom = custom_values_clean(
        data.custom, errors=errors, definitions=definitions, stored=customer.custom if customer else None
    )
    if errors:
        raise ValidationFailed(_("Please correct the errors below."), field_errors=errors)
    return _Clean(
        phones=phones,
        email_lookup=email_lookup,
        custom=custom,
        active_custom_keys=frozenset(d.key for d in definitions),
    )


@dataclass(frozen=True)
class CheckedCustomer:
    """Input that passed validation, with what validation worked out (normalised phones, lookups), for
    ``customers_import_create`` to write without checking it again."""

    data: CustomerInput
    clean: _Clean

    @property
    def phone_lookups(self) -> list[str]:
        return [p[2] for p in self.clean.phones]

    @property
    def unnamed(self) -> bool:
        """Neither a name nor a phone: not enough to make a customer of (``customer_input_check``)."""
        return not self.data.name.strip() and not self.clean.phones


def customer_input_check(
    *,
    data: CustomerInput,
    customer: Customer | None = None,
    definitions: Sequence[CustomField] | None = None,
    name_needed: bool = True,
) -> CheckedCustomer:
    """Raise the ``ValidationFailed`` that saving ``data`` would raise (as a new customer, or over
    ``customer``), writing nothing: for an import's dry run and validation report. Duplicate phones are
    not checked here; they are the import's matching, not an error. An import passes the active custom
    fields (``definitions``) once for all its rows, instead of a query per row.

    ``name_needed=False`` lets through input with neither a name nor a phone (``CheckedCustomer.unnamed``):
    a customer sheet's row or an order sheet's buyer named by a key an import matches (a customer number,
    an account, an email), whose name only a new customer needs. Such input makes no customer
    (``customers_import_create``); the import refuses it when no customer has the key."""
    clean = _validate(data, customer=customer, definitions=definitions, name_needed=name_needed)
    return CheckedCustomer(data, clean)


def phone_owners(*, e164_numbers: Iterable[str], exclude_customer_id: int | None = None) -> list[Customer]:
    """Active customers that already have one of these phone numbers."""
    lookups = [phone_lookup(n) for n in e164_numbers]
    if not lookups:
        return []
    qs = Customer.objects.active().filter(phones__number_lookup__in=lookups).distinct()
    if exclude_customer_id:
        qs = qs.exclude(pk=exclude_customer_id)
    return list(qs.order_by("customer_no")[:5])


def _check_duplicates(clean: _Clean, *, customer: Customer | None, allow: bool, actor: Any) -> None:
    """Warn about phones this save adds that another customer has. A number the customer already had
    was confirmed when it was added: warning again would block every later save of the profile.

    The warning names only customers ``actor`` may see; others are "a customer you cannot see", so
    typing a number never reveals whose customer it is."""
    if allow:
        return
    kept = set(customer.phones.values_list("number_lookup", flat=True)) if customer else set()
    owners = phone_owners_for(
        user=actor,
        e164_numbers=[p[0] for p in clean.phones if p[2] not in kept],
        exclude_customer_id=customer.pk if customer else None,
    )
    if not owners.visible and not owners.hidden:
        return
    names = list_join(f"{c.customer_no} {c.name}".strip() for c in owners.visible)
    if names and owners.hidden:
        message = _("This phone number already belongs to %(customers)s and to a customer you cannot see.")
    elif names:
        message = _("This phone number already belongs to %(customers)s.")
    else:
        message = _("A customer you cannot see already has this phone number.")
    message = message % {"customers": names} if names else message
    raise DuplicateWarning(message, field_errors={"phones": [message]})


# --- writing ---------------------------------------------------------------------------------------


def region_of(province: str, city: str) -> tuple[str, str]:
    """The (province, city) a merchant filters by. A municipality's only city level in the division
    data is a placeholder (北京市 → 市辖区), so its city is the municipality itself."""
    return province, (province if city in divisions.PLACEHOLDER_CITIES else city)


def customer_no_format(number: int) -> str:
    prefix = settings.KEBU["CUSTOMER_NO_PREFIX"]
    return f"{prefix}{number:0{settings.KEBU['CUSTOMER_NO_DIGITS']}d}"


def customer_no_next() -> str:
    """The next free customer number; skips numbers already taken (e.g. kept from an imported sheet)."""
    while True:
        candidate = customer_no_format(sequence_next(name=CUSTOMER_NO_SEQUENCE))
        if not Customer.objects.filter(customer_no=candidate).exists():
            return candidate


def _apply_profile(customer: Customer, data: CustomerInput, clean: _Clean) -> None:
    for name, value in _profile_values(data, clean, customer.custom).items():
        setattr(customer, name, value)


def _profile_values(
    data: CustomerInput, clean: _Clean, stored_custom: dict[str, Any] | None
) -> dict[str, Any]:
    """The customer's columns that ``data`` sets, by field name, with what is derived from them (pinyin,
    lookups, the primary phone, the region of the default address)."""
    name = name_tidy(data.name)
    name_pinyin, name_initials = pinyin_keys(name)
    # Values of fields an admin has since deactivated are kept, not wiped by the next save: the field
    # may come back, and the data is the merchant's.
    retired = {k: v for k, v in (stored_custom or {}).items() if k not in clean.active_custom_keys}
    default = next((a for a in data.addresses if a.is_default), data.addresses[0] if data.addresses else None)
    province, city = region_of(default.province, default.city) if default else ("", "")
    return {
        **{name: getattr(data, name) for name in PROFILE_FIELDS},
        "name": name,
        "name_pinyin": name_pinyin,
        "name_initials": name_initials,
        "email": data.email.strip(),
        "email_lookup": clean.email_lookup,
        "custom": {**retired, **clean.custom},
        "primary_phone": clean.phones[0][0] if clean.phones else "",
        "province": province,
        "city": city,
    }


def _replace_children(customer: Customer, data: CustomerInput, clean: _Clean, actor: Any) -> None:
    customer.phones.all().delete()
    CustomerPhone.objects.bulk_create(
        CustomerPhone(
            customer=customer, number=e164, label=label, number_lookup=lookup, last4_lookup=last4, position=i
        )
        for i, (e164, label, lookup, last4) in enumerate(clean.phones)
    )
    customer.addresses.all().delete()
    has_default = any(a.is_default for a in data.addresses)
    Address.objects.bulk_create(
        Address(
            customer=customer,
            province=a.province,
            city=a.city,
            district=a.district,
            detail=a.detail.strip(),
            receiver=a.receiver.strip(),
            receiver_phone=parse_phone(a.receiver_phone).e164 if a.receiver_phone else "",
            is_default=a.is_default or (not has_default and i == 0),
        )
        for i, a in enumerate(data.addresses)
    )
    customer.socials.all().delete()
    seen: set[tuple[str, str]] = set()
    socials = []
    for s in data.socials:
        key = (s.kind, text_lookup(s.handle))
        if key not in seen:
            seen.add(key)
            socials.append(
                SocialAccount(
                    customer=customer,
                    kind=s.kind,
                    kind_label=s.kind_label.strip() if s.kind == SocialKind.OTHER else "",
                    handle=s.handle.strip(),
                    handle_lookup=key[1],
                )
            )
    SocialAccount.objects.bulk_create(socials)
    customer.tags.set(data.tags)
    _apply_consents(customer, data.consents, actor)


def _apply_consents(customer: Customer, consents: Sequence[ConsentInput], actor: Any) -> None:
    """Keep one current row per channel; a change of mind moves the row and its time."""
    current = {c.channel: c for c in customer.consents.all()}
    for item in consents:
        existing = current.get(item.channel)
        if existing and existing.granted == item.granted:
            continue
        Consent.objects.update_or_create(
            customer=customer,
            channel=item.channel,
            defaults={
                "granted": item.granted,
                "method": item.method,
                "evidence": item.evidence[:200],
                "recorded_at": item.recorded_at or timezone.now(),
                "recorded_by": actor,
            },
        )


@transaction.atomic
def customer_create(
    *,
    actor: Any,
    data: CustomerInput,
    allow_duplicate_phone: bool = False,
    idempotency_key: str | None = None,
) -> Customer:
    """Create a customer with its phones, addresses, accounts, tags and consents, all or nothing.

    Raises ``ValidationFailed`` (field errors) or ``DuplicateWarning`` (a phone another customer has)
    before anything is written. The same ``idempotency_key`` from the same actor creates one customer."""
    clean = _validate(data, customer=None)

    def create() -> Customer:
        _check_duplicates(clean, customer=None, allow=allow_duplicate_phone, actor=actor)
        now = timezone.now()
        customer = Customer(
            customer_no=customer_no_next(), created_by=actor, updated_by=actor, created_at=now, updated_at=now
        )
        _apply_profile(customer, data, clean)
        customer.save()
        _replace_children(customer, data, clean, actor)
        events.customer_created_event(customer=customer, actor=actor)
        return customer

    return idempotent(
        key=idempotency_key,
        scope="customer_create",
        actor=actor,
        model=Customer,
        create=create,
        # Keyed: the fingerprint is stored in the clear and the input holds phone numbers.
        fingerprint=keyring().mac("idempotency", repr(data).encode()).hex(),
    )


def _snapshot(customer: Customer) -> dict[str, tuple[str, str]]:
    """What a person would call the customer's data, for the timeline's change list: per field the
    value to compare and the value to record. Contact details are recorded masked: the timeline and
    the audit log are not encrypted, and their readers may not be allowed to see them."""
    snap = {
        name: ("" if getattr(customer, name) is None else str(getattr(customer, name)))
        for name in PROFILE_FIELDS
        if name not in {"custom", "email", "notes", "referrer"}
    }
    # The referrer by number only: their name is not for people who may not see that customer.
    snap["referrer"] = customer.referrer.customer_no if customer.referrer else ""
    snap["custom"] = str(dict(sorted(customer.custom.items())))
    snap["tags"] = ", ".join(sorted(t.name for t in customer.tags.all()))
    snap["consents"] = ", ".join(sorted(f"{c.channel}={c.granted}" for c in customer.consents.all()))
    pairs = {name: (value, value) for name, value in snap.items()}
    phones = [p.number for p in customer.phones.all()]
    addresses = list(customer.addresses.all())
    socials = list(customer.socials.all())
    pairs["email"] = (customer.email, mask_email(customer.email))
    pairs["notes"] = (customer.notes, "…" if customer.notes else "")
    pairs["phones"] = (", ".join(phones), ", ".join(mask_phone(n) for n in phones))
    pairs["addresses"] = (
        "; ".join(f"{a}|{a.receiver}|{a.receiver_phone}|{a.is_default}" for a in addresses),
        "; ".join(f"{a.province}{a.city}{a.district}{mask_address(a.detail)}" for a in addresses),
    )
    pairs["socials"] = (
        ", ".join(str(s) for s in socials),
        ", ".join(f"{s.get_kind_display()}: {mask_text(s.handle)}" for s in socials),
    )
    return pairs


@transaction.atomic
def customer_update(
    *,
    actor: Any,
    customer: Customer,
    data: CustomerInput,
    expected_version: int,
    allow_duplicate_phone: bool = False,
) -> Customer:
    """Replace a customer's profile with ``data`` if nobody saved it since ``expected_version`` was read.

    The version check is a conditional UPDATE, which works the same on SQLite (where
    ``select_for_update`` does nothing) and PostgreSQL; a stale save raises ``Conflict``."""
    clean = _validate(data, customer=customer)
    _check_duplicates(clean, customer=customer, allow=allow_duplicate_phone, actor=actor)
    claimed = Customer.objects.filter(pk=customer.pk, version=expected_version).update(
        version=F("version") + 1
    )
    if not claimed:
        raise Conflict(
            _("Someone else saved this customer while you were editing. Reload to see their changes.")
        )
    customer = Customer.objects.get(pk=customer.pk)
    before = _snapshot(customer)
    _apply_profile(customer, data, clean)
    customer.updated_by = actor
    customer.updated_at = timezone.now()
    customer.save()
    _replace_children(customer, data, clean, actor)
    after = _snapshot(customer)
    changes = {k: [before[k][1], after[k][1]] for k in after if before[k][0] != after[k][0]}
    if changes:
        events.customer_updated_event(customer=customer, actor=actor, changes=changes)
    return customer


def customer_input_from(customer: Customer) -> CustomerInput:
    """The current state of a customer as input, for partial updates (API PATCH, bulk actions)."""
    return CustomerInput(
        **{name: getattr(customer, name) for name in PROFILE_FIELDS},
        tags=list(customer.tags.all()),
        phones=[PhoneInput(number=p.number, label=p.label) for p in customer.phones.all()],
        addresses=[
            AddressInput(**{name: getattr(a, name) for name in ADDRESS_FIELDS})
            for a in customer.addresses.all()
        ],
        socials=[
            SocialInput(kind=s.kind, handle=s.handle, kind_label=s.kind_label) for s in customer.socials.all()
        ],
        consents=[],
    )


def _locked(customer: Customer) -> Customer:
    """The customer's row as it is now, locked until the transaction ends. ``select_for_update`` locks it
    on PostgreSQL; SQLite has no row locks, but its write transactions start IMMEDIATE, so nobody
    writes between this read and the caller's update there either."""
    return Customer.objects.select_for_update().get(pk=customer.pk)


@transaction.atomic
def customer_archive(*, actor: Any, customer: Customer) -> Customer:
    """Soft-delete: the customer leaves lists and search but keeps every record, and can be restored.
    Only its owner or a manager may (``access.can_archive``): not a clerk, for a pool customer. The rule
    is checked on the row as it is now, locked, not as the caller read it: a clerk whose customer was
    transferred since is refused."""
    locked = _locked(customer)
    if not access.can_archive(actor, locked):
        raise Forbidden(_("Only the owner or a manager may archive this customer."))
    if locked.archived_at is None:
        Customer.objects.filter(pk=customer.pk).update(
            archived_at=timezone.now(), updated_at=timezone.now(), updated_by=actor, version=F("version") + 1
        )
        events.customer_archived_event(customer=locked, actor=actor)
    customer.refresh_from_db()  # the caller's copy too, as it is now
    return customer


@transaction.atomic
def customer_restore(*, actor: Any, customer: Customer) -> Customer:
    """Bring an archived customer back into lists and search; who may is who may archive it (checked
    on the locked row, as for archiving)."""
    locked = _locked(customer)
    if not access.can_archive(actor, locked):
        raise Forbidden(_("Only the owner or a manager may restore this customer."))
    if locked.archived_at is not None:
        Customer.objects.filter(pk=customer.pk).update(
            archived_at=None, updated_at=timezone.now(), updated_by=actor, version=F("version") + 1
        )
        events.customer_restored_event(customer=locked, actor=actor)
    customer.refresh_from_db()  # the caller's copy too, as it is now
    return customer


# --- bulk actions ------------------------------------------------------------------------------------


def _bulk_record(
    *, actor: Any, customers: Iterable[Customer], field_name: str, before: dict[int, str], after: str
) -> None:
    for customer in customers:
        if before[customer.pk] != after:
            events.customer_updated_event(
                customer=customer, actor=actor, changes={field_name: [before[customer.pk], after]}
            )


@transaction.atomic
def customers_bulk_tag(
    *, actor: Any, customers: Sequence[Customer], tags: Sequence[Tag], remove: bool = False
) -> int:
    """Add (or remove) tags on many customers at once; returns how many customers changed."""
    changed_ids = []
    through = Customer.tags.through
    for customer in customers:
        current = set(customer.tags.values_list("pk", flat=True))
        wanted = current - {t.pk for t in tags} if remove else current | {t.pk for t in tags}
        if wanted == current:
            continue
        if remove:
            through.objects.filter(customer=customer, tag__in=tags).delete()
        else:
            through.objects.bulk_create(
                [through(customer=customer, tag_id=pk) for pk in wanted - current], ignore_conflicts=True
            )
        names = dict(Tag.objects.filter(pk__in=current | wanted).values_list("pk", "name"))
        events.customer_updated_event(
            customer=customer,
            actor=actor,
            changes={
                "tags": [
                    ", ".join(sorted(names[p] for p in current)),
                    ", ".join(sorted(names[p] for p in wanted)),
                ]
            },
        )
        changed_ids.append(customer.pk)
    Customer.objects.filter(pk__in=changed_ids).update(
        updated_at=timezone.now(), updated_by=actor, version=F("version") + 1
    )
    return len(changed_ids)


@transaction.atomic
def customers_bulk_assign(*, actor: Any, customers: Sequence[Customer], owner: Any) -> int:
    """Give many customers a new owner (or none: the shared pool). Needs ``assign_customer``; each
    change is a transfer (or release) on the customer's timeline and in the audit log."""
    access.require(actor, access.ASSIGN, message=_("Your role may not assign customers."))
    if owner is not None:
        _check_new_owner(owner, key="owner")
    changed = [c for c in customers if c.owner_id != (owner.pk if owner else None)]
    Customer.objects.filter(pk__in=[c.pk for c in changed]).update(
        owner=owner, updated_at=timezone.now(), updated_by=actor, version=F("version") + 1
    )
    for customer in changed:
        _owner_moved(customer=customer, actor=actor, from_user=customer.owner, to_user=owner)
    return len(changed)


@transaction.atomic
def customers_bulk_stage(*, actor: Any, customers: Sequence[Customer], stage: str) -> int:
    if stage not in Stage.values:
        raise ValidationFailed(field_errors={"stage": [_("Choose a lifecycle stage from the list.")]})
    before = {c.pk: c.stage for c in customers}
    Customer.objects.filter(pk__in=[c.pk for c in customers if c.stage != stage]).update(
        stage=stage, updated_at=timezone.now(), updated_by=actor, version=F("version") + 1
    )
    _bulk_record(actor=actor, customers=customers, field_name="stage", before=before, after=stage)
    return sum(1 for c in customers if before[c.pk] != stage)


# --- ownership: the shared pool (公海), claims, releases and transfers ---------------------------------
# Each change of owner is a conditional UPDATE on the owner the caller read, so two people acting on the
# same customer at once cannot both succeed (on SQLite, where select_for_update does nothing, too), and
# each bumps the version, so an edit form opened before the change cannot put the old owner back.


def _owner_swap(*, customer: Customer, to_owner: Any, actor: Any) -> bool:
    """Set the owner to ``to_owner`` if it is still the one the caller read; False if it changed."""
    return bool(
        Customer.objects.filter(pk=customer.pk, owner_id=customer.owner_id).update(
            owner=to_owner, updated_at=timezone.now(), updated_by=actor, version=F("version") + 1
        )
    )


@transaction.atomic
def customer_claim(*, customer: Customer, actor: Any) -> Customer:
    """Take a customer without an owner from the shared pool. Of two people claiming at once exactly
    one wins; the other gets ``Conflict``."""
    access.require(actor, access.CHANGE, message=_("Your role may not take on customers."))
    if not shared_pool_enabled():
        raise Forbidden(_("The shared pool is switched off."))
    if customer.archived_at is not None:
        raise ValidationFailed(_("This customer is archived: restore it first."))
    if customer.owner_id == actor.pk:
        raise ValidationFailed(_("You already own this customer."))
    # The pool customer the caller read is taken only if it is still in the pool (owner IS NULL).
    if customer.owner_id is not None or not _owner_swap(customer=customer, to_owner=actor, actor=actor):
        raise Conflict(_("Someone else claimed this customer first."))
    events.customer_owner_changed_event(
        customer=customer, actor=actor, kind=events.CLAIMED, from_user=None, to_user=actor
    )
    customer.refresh_from_db()
    return customer


@transaction.atomic
def customer_release(*, customer: Customer, actor: Any, reason: str = "") -> Customer:
    """Give a customer back to the shared pool (no owner). Owners release their own; someone allowed to
    assign customers may release anyone's. With the pool switched off only they may, since a released
    customer would then be seen by nobody but admins."""
    may_assign = access.can_assign(actor)
    own = customer.owner_id is not None and customer.owner_id == actor.pk and access.can(actor, access.CHANGE)
    if not (own or may_assign):
        raise Forbidden(_("Only the owner or a manager may release this customer."))
    if customer.owner_id is None:
        raise ValidationFailed(_("This customer is already in the shared pool."))
    if not may_assign and not shared_pool_enabled():
        raise Forbidden(_("The shared pool is switched off: ask a manager to transfer the customer."))
    if len(reason) > 200:
        raise ValidationFailed(field_errors={"reason": [_("A reason has at most 200 characters.")]})
    previous = customer.owner
    if not _owner_swap(customer=customer, to_owner=None, actor=actor):
        raise Conflict(_("The owner of this customer changed meanwhile. Reload and try again."))
    _owner_moved(customer=customer, actor=actor, from_user=previous, to_user=None, reason=reason.strip())
    customer.refresh_from_db()
    return customer


def _check_new_owner(to_user: Any, *, key: str) -> None:
    """Who may be given customers, by hand or by a sheet: ``selectors.assignable_users``."""
    if to_user is None or not to_user.is_active or not to_user.has_perm(access.CHANGE):
        raise ValidationFailed(
            field_errors={key: [_("Choose an active colleague who works with customers.")]}
        )


def _owner_moved(
    *,
    customer: Customer,
    actor: Any,
    from_user: Any,
    to_user: Any,
    reason: str = "",
    import_id: int | None = None,
) -> None:
    """Record an owner change already written: a transfer to ``to_user``, or a release to the shared pool
    when None, on the ownership history, the timeline and the audit log. Every change of owner but a
    claim comes here (a transfer, a release, a bulk assignment, a sheet's owner column), or, many at
    once, to ``customers_import_owners_put_back``."""
    events.customer_owner_changed_event(
        customer=customer,
        actor=actor,
        kind=_owner_move_kind(to_user),
        from_user=from_user,
        to_user=to_user,
        reason=reason,
        import_id=import_id,
    )


def _owner_move_kind(to_user: Any) -> str:
    return events.TRANSFERRED if to_user is not None else events.RELEASED


@transaction.atomic
def customer_transfer(*, customer: Customer, to_user: Any, actor: Any, reason: str = "") -> Customer:
    """Make ``to_user`` the owner of ``customer`` (from a colleague or from the pool). Needs
    ``assign_customer``; the new owner must be an active colleague who may see customers."""
    access.require(actor, access.ASSIGN, message=_("Your role may not transfer customers."))
    _check_new_owner(to_user, key="to_user")
    if customer.owner_id == to_user.pk:
        message = _("%(name)s already owns this customer.") % {"name": to_user}
        raise ValidationFailed(field_errors={"to_user": [message]})
    if len(reason) > 200:
        raise ValidationFailed(field_errors={"reason": [_("A reason has at most 200 characters.")]})
    previous = customer.owner
    if not _owner_swap(customer=customer, to_owner=to_user, actor=actor):
        raise Conflict(_("The owner of this customer changed meanwhile. Reload and try again."))
    _owner_moved(customer=customer, actor=actor, from_user=previous, to_user=to_user, reason=reason.strip())
    customer.refresh_from_db()
    return customer


# --- imports -----------------------------------------------------------------------------------------
# A sheet of thousands of customers is written in batches of bulk INSERTs, not a service call per row:
# the rows were validated already (``customer_input_check``), the import matched them to existing
# customers (so no duplicate-phone warning), and one audit entry records the import as a whole; each
# customer still gets its timeline event, saying which import touched it.

IMPORT_SCALARS = (
    "name",
    "gender",
    "birthday",
    "email",
    "customer_type",
    "stage",
    "source",
    "owner",
    "notes",
)
_FOREIGN_KEYS = frozenset({"source", "owner"})
# Columns an import's update changes besides the fields a sheet names: kept to put them back on undo.
_DERIVED = ("name_pinyin", "name_initials", "email_lookup", "primary_phone", "province", "city", "custom")


# The columns of the rows ``_children_values`` makes, after the customer's own.
PHONE_COLUMNS = ("number", "label", "number_lookup", "last4_lookup", "position")
ADDRESS_COLUMNS = ("province", "city", "district", "detail", "receiver", "receiver_phone", "is_default")
SOCIAL_COLUMNS = ("kind", "kind_label", "handle", "handle_lookup")


def _children_values(
    clean: _Clean, data: CustomerInput, *, position: int = 0
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A customer's phone, address and account rows from validated input, as values of
    ``PHONE_COLUMNS``, ``ADDRESS_COLUMNS`` and ``SOCIAL_COLUMNS``."""
    phones = [
        (e164, label, lookup, last4, position + i)
        for i, (e164, label, lookup, last4) in enumerate(clean.phones)
    ]
    addresses = [
        (
            a.province,
            a.city,
            a.district,
            a.detail.strip(),
            a.receiver.strip(),
            parse_phone(a.receiver_phone).e164 if a.receiver_phone else "",
            a.is_default,
        )
        for a in data.addresses
    ]
    socials = [
        (
            s.kind,
            s.kind_label.strip() if s.kind == SocialKind.OTHER else "",
            s.handle.strip(),
            text_lookup(s.handle),
        )
        for s in data.socials
    ]
    return phones, addresses, socials


def _children(
    customer: Customer, clean: _Clean, data: CustomerInput, *, position: int = 0
) -> tuple[list[CustomerPhone], list[Address], list[SocialAccount]]:
    """Unsaved phone, address and account rows for ``customer`` from validated input."""
    phones, addresses, socials = _children_values(clean, data, position=position)
    return (
        [CustomerPhone(customer=customer, **dict(zip(PHONE_COLUMNS, row, strict=True))) for row in phones],
        [Address(customer=customer, **dict(zip(ADDRESS_COLUMNS, row, strict=True))) for row in addresses],
        [SocialAccount(customer=customer, **dict(zip(SOCIAL_COLUMNS, row, strict=True))) for row in socials],
    )


# What a new customer's row takes from its input (``_profile_values``), its relations among them, and
# the rest of its columns (past the number and the who and when), which start at their defaults.
_PROFILE_COLUMNS = (
    *PROFILE_FIELDS,
    "name_pinyin",
    "name_initials",
    "email_lookup",
    "primary_phone",
    "province",
    "city",
)
_PROFILE_RELATIONS = tuple(n for n in PROFILE_FIELDS if Customer._meta.get_field(n).is_relation)
_CREATE_REST = tuple(
    f
    for f in Customer._meta.concrete_fields
    if f.name
    not in {"id", "customer_no", *_PROFILE_COLUMNS, "created_by", "updated_by", "created_at", "updated_at"}
)


@dataclass(frozen=True)
class CustomersMade:
    """What :func:`customers_import_create` wrote, in the order of its rows: each customer's id and
    number, and ``customers()``, the customers as reading them back would give them (made only for a
    caller that goes on with them: making one costs about what writing it does)."""

    ids: list[int]
    numbers: list[str]
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)
    _varying: tuple[str, ...] = ()
    _values: list[tuple[Any, ...]] = field(default_factory=list, repr=False)

    def customers(self) -> list[Customer]:
        order = [f.attname for f in Customer._meta.concrete_fields]
        made = []
        for pk, row in zip(self.ids, self._values, strict=True):
            columns = {**self._shared, "id": pk, **dict(zip(self._varying, row, strict=True))}
            # Positionally: a third of what making one by keyword costs.
            made.append(Customer.from_db(connection.alias, order, [columns[name] for name in order]))
        return made


def customers_import_create(
    *, actor: Any, rows: Sequence[tuple[CheckedCustomer, str]], import_id: int
) -> CustomersMade:
    """Create one customer per ``(checked input, customer number)``, in bulk, inside the caller's
    transaction. An empty number takes the next free one; a given number is kept (the caller matched it,
    so it is free). Each gets a "customer.imported" timeline event naming ``import_id``."""
    if not rows:
        return CustomersMade([], [])
    if any(checked.unnamed for checked, _number in rows):
        raise ValueError(
            "A customer needs a name or a phone: this input was checked as one to find, not to make."
        )
    now = timezone.now()
    actor_id = actor.pk if actor is not None else None
    numbers = _numbers_for(
        sum(1 for _, number in rows if not number), kept={number for _, number in rows if number}
    )
    # Written as values, not model instances: building and preparing a Customer field by field was a
    # third of an import's time (bench/README.md). What every row shares is prepared once; a default
    # made by a callable is made for each row, so no two customers share one.
    fresh = [f for f in _CREATE_REST if callable(f.default)]
    same = {f.name: f.get_default() for f in _CREATE_REST if not callable(f.default)}
    same |= {"created_by": actor_id, "updated_by": actor_id, "created_at": now, "updated_at": now}
    varying = ("customer_no", *_PROFILE_COLUMNS, *(f.name for f in fresh))
    values = []
    for checked, number in rows:
        profile = _profile_values(checked.data, checked.clean, None)
        for name in _PROFILE_RELATIONS:
            profile[name] = profile[name].pk if profile[name] is not None else None
        values.append(
            (
                number or next(numbers),
                *[profile[name] for name in _PROFILE_COLUMNS],
                *[f.get_default() for f in fresh],
            )
        )
    ids = values_insert(Customer, varying, values, same=same)
    phones: list[tuple[Any, ...]] = []
    addresses: list[tuple[Any, ...]] = []
    socials: list[tuple[Any, ...]] = []
    for pk, (checked, _number) in zip(ids, rows, strict=True):
        made = _children_values(checked.clean, checked.data)
        phones += [(pk, *row) for row in made[0]]
        addresses += [(pk, *row) for row in made[1]]
        socials += [(pk, *row) for row in made[2]]
    values_insert(CustomerPhone, ("customer", *PHONE_COLUMNS), phones)
    values_insert(Address, ("customer", *ADDRESS_COLUMNS), addresses)
    values_insert(SocialAccount, ("customer", *SOCIAL_COLUMNS), socials)
    values_insert(
        Customer.tags.through,
        ["customer", "tag"],
        [(pk, tag.pk) for pk, (checked, _number) in zip(ids, rows, strict=True) for tag in checked.data.tags],
    )
    values_insert(
        CustomerEvent,
        ["customer"],
        [(pk,) for pk in ids],
        same={
            "actor": actor_id,
            "kind": "customer.imported",
            "data": {"import": import_id},
            "created_at": now,
        },
    )
    attname = {f.name: f.attname for f in Customer._meta.concrete_fields}
    return CustomersMade(
        ids=list(ids),
        numbers=[row[0] for row in values],
        _shared={attname[name]: value for name, value in same.items()},
        _varying=tuple(attname[name] for name in varying),
        _values=values,
    )


def _numbers_for(count: int, *, kept: Collection[str] = ()) -> Iterator[str]:
    """``count`` free customer numbers, reserved from the sequence in one step (and more where a number
    is already taken by a kept one, or is ``kept`` for a customer made beside them: a sheet's row may name
    the very number the sequence gives next)."""
    while count:
        first = sequence_next(name=CUSTOMER_NO_SEQUENCE, count=count)
        candidates = [customer_no_format(n) for n in range(first, first + count)]
        taken = set(Customer.objects.filter(customer_no__in=candidates).values_list("customer_no", flat=True))
        taken |= set(kept) & set(candidates)
        for candidate in candidates:
            if candidate not in taken:
                count -= 1
                yield candidate


@dataclass
class ImportedChange:
    """What an import's row changed on an existing customer, enough to put it back: the columns' values
    before (``before``, JSON values) and the rows it added (``added``: kind -> ids); and enough to tell
    the merchant what it did (``after``: the columns the row changed, as stored, JSON values, with
    "custom" when a custom field changed, and the values of the rows it added: "phones" (E.164),
    "addresses" ([province, city, district, detail]), "socials" ([kind, kind label, handle]), "tags"
    (names)). ``before`` holds more than the row changed (the derived columns undo writes back), so
    ``after`` is what says which fields changed."""

    customer: Customer
    before: dict[str, Any]
    added: dict[str, list[int]]
    after: dict[str, Any] = field(default_factory=dict)


def _json_of(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


# A customer's rows an import's merge compares a sheet's row with, read for a whole batch as plain lists
# by ``customers_with_contacts``: relation -> the attribute holding them.
_STORED = {
    "phones": "stored_phones",
    "addresses": "stored_addresses",
    "socials": "stored_socials",
    "tags": "stored_tags",
}


def customers_with_contacts(ids: Iterable[int]) -> dict[int, Customer]:
    """The customers of ``ids`` (by id; the ones that exist) with what ``customer_import_merge`` reads of
    each loaded alongside: one query for the customers and one per relation, asked by id.

    Django's own prefetch holds each customer's rows in a queryset of its own and passes each customer
    to the query as an object, and ``select_related`` makes a staff member, source and tag object for
    every customer that names one. A shop has a few of those: each is made once here and shared (the
    merge only reads them). Instances were most of a re-import's time (bench/README.md)."""
    customers = Customer.objects.in_bulk(ids)
    for name, related in (("source", SourceChannel), ("owner", get_user_model()), ("referrer", Customer)):
        attname = f"{name}_id"
        wanted = {getattr(c, attname) for c in customers.values()} - {None}
        found = related._base_manager.in_bulk(wanted) if wanted else {}
        for customer in customers.values():
            if (key := getattr(customer, attname)) in found:
                setattr(customer, name, found[key])
    for customer in customers.values():
        for attr in _STORED.values():
            setattr(customer, attr, [])
    for relation, child in (("phones", CustomerPhone), ("addresses", Address), ("socials", SocialAccount)):
        # In the model's own ordering, as ``customer.phones.all()`` gives them.
        for row in child.objects.filter(customer_id__in=list(customers)):
            getattr(customers[row.customer_id], _STORED[relation]).append(row)
    links = list(
        Customer.tags.through.objects.filter(customer_id__in=list(customers))
        .order_by(*(f"tag__{name}" for name in Tag._meta.ordering or ()))
        .values_list("customer_id", "tag_id")
    )
    tags = Tag.objects.in_bulk({tag_id for _, tag_id in links})
    for customer_id, tag_id in links:
        getattr(customers[customer_id], _STORED["tags"]).append(tags[tag_id])
    return customers


def _stored(customer: Customer, relation: str) -> list[Any]:
    """The customer's ``relation`` rows as ``customers_with_contacts`` loaded them, else read now."""
    loaded = getattr(customer, _STORED[relation], None)
    return list(getattr(customer, relation).all()) if loaded is None else loaded


@dataclass
class _ImportPlan:
    """What a sheet's row makes of a customer (``_import_plan``): the input merged, the scalar fields it
    changes, and the phones, addresses, accounts and tags it adds."""

    merged: CustomerInput
    clean: _Clean
    changed: list[str]
    custom_changed: bool
    known_phones: set[str]
    new_phones: list[PhoneInput]
    new_addresses: list[AddressInput]
    new_socials: list[SocialInput]
    new_tags: list[Tag]

    @property
    def fields(self) -> list[str]:
        added = {
            "phones": self.new_phones,
            "addresses": self.new_addresses,
            "socials": self.new_socials,
            "tags": self.new_tags,
        }
        custom = ["custom"] if self.custom_changed else []
        return [*self.changed, *custom, *(name for name, rows in added.items() if rows)]


def _import_plan(
    *,
    customer: Customer,
    checked: CheckedCustomer,
    provided: frozenset[str],
    definitions: Sequence[CustomField],
) -> _ImportPlan | None:
    """What laying ``checked`` (the fields in ``provided``) over ``customer`` would change, writing
    nothing; None when nothing. Raises ``ValidationFailed`` when the result would be invalid."""
    data = checked.data
    stored_phones = _stored(customer, "phones")
    stored_addresses = _stored(customer, "addresses")
    stored_accounts = _stored(customer, "socials")
    current = CustomerInput(
        **{name: getattr(customer, name) for name in PROFILE_FIELDS},
        phones=[PhoneInput(number=p.number, label=p.label) for p in stored_phones],
        addresses=[
            AddressInput(**{name: getattr(a, name) for name in ADDRESS_FIELDS}) for a in stored_addresses
        ],
        socials=[SocialInput(kind=s.kind, handle=s.handle, kind_label=s.kind_label) for s in stored_accounts],
    )
    merged = replace(current, custom=dict(customer.custom or {}))
    for name in IMPORT_SCALARS:
        if name in provided:
            setattr(merged, name, getattr(data, name))
    merged.custom.update({key: data.custom[key] for key in data.custom if f"custom.{key}" in provided})
    known_phones = {p.number_lookup for p in stored_phones}
    new_phones = [
        PhoneInput(number=p[0], label=p[1])
        for p in checked.clean.phones
        if p[2] not in known_phones and "phones" in provided
    ]
    new_addresses = [
        replace(a, is_default=not stored_addresses and i == 0)
        for i, a in enumerate(data.addresses)
        if not address_known(a, stored_addresses) and "addresses" in provided
    ]
    known_accounts = {(s.kind, s.handle_lookup) for s in stored_accounts}
    new_socials = [
        s
        for s in data.socials
        if (s.kind, text_lookup(s.handle)) not in known_accounts and "socials" in provided
    ]
    # Tags are added, never taken away: a sheet lists the tags it knows of, not all the customer has.
    stored_tags = _stored(customer, "tags")
    new_tags = [t for t in data.tags if t not in stored_tags] if "tags" in provided else []
    merged.phones = [*current.phones, *new_phones]
    merged.addresses = [*current.addresses, *new_addresses]
    merged.socials = [*current.socials, *new_socials]
    changed = [name for name in IMPORT_SCALARS if getattr(merged, name) != getattr(current, name)]
    custom_given = any(name.startswith("custom.") for name in provided)
    added_any = bool(new_phones or new_addresses or new_socials or new_tags)
    if not changed and not custom_given and not added_any:
        return None  # the common case of a re-import, told without validating anything
    clean = _validate(merged, customer=customer, definitions=definitions)
    # Compared as stored: a sheet's "5" for a number field is the 5 already there.
    retired = {k: v for k, v in (customer.custom or {}).items() if k not in clean.active_custom_keys}
    custom_changed = {**retired, **clean.custom} != (customer.custom or {})
    if not changed and not custom_changed and not added_any:
        return None
    return _ImportPlan(
        merged,
        clean,
        changed,
        custom_changed,
        known_phones,
        new_phones,
        new_addresses,
        new_socials,
        new_tags,
    )


def address_known(address: AddressInput, stored: Iterable[Address]) -> bool:
    """Whether the customer's ``stored`` addresses already say what ``address`` does: one is the same
    address, or, for a region alone (no street), one lies in that region (广东省 深圳市 is known from
    广东省 深圳市 南山区 科技园 8 号): a sheet of regions imported over full addresses adds nothing."""
    detail = address.detail.strip()
    if detail:
        place = (address.province, address.city, address.district, detail)
        return any((a.province, a.city, a.district, a.detail.strip()) == place for a in stored)
    return any(
        a.province == address.province
        and address.city in ("", a.city)
        and address.district in ("", a.district)
        for a in stored
    )


def customer_import_changes(
    *,
    customer: Customer,
    checked: CheckedCustomer,
    provided: frozenset[str],
    definitions: Sequence[CustomField],
) -> list[str]:
    """The fields ``customer_import_merge`` would change on ``customer`` (``IMPORT_SCALARS``, "custom",
    and the "phones", "addresses", "socials" and "tags" it would add to), writing nothing: what an
    importer who may not change customers is told their row would have changed. Raises
    ``ValidationFailed`` as the merge would."""
    plan = _import_plan(customer=customer, checked=checked, provided=provided, definitions=definitions)
    return [] if plan is None else plan.fields


def customer_import_merge(
    *,
    actor: Any,
    customer: Customer,
    checked: CheckedCustomer,
    provided: frozenset[str],
    definitions: Sequence[CustomField],
    import_id: int,
    timeline: list[CustomerEvent] | None = None,
) -> ImportedChange | None:
    """Lay what a sheet's row says (``checked``; only the fields in ``provided``, the non-blank cells)
    over ``customer``, inside the caller's transaction. A blank cell never wipes what is stored; a phone,
    address or account the customer does not have yet is added beside the ones they have. Returns None
    when the row changes nothing. Raises ``ValidationFailed`` when the result would be invalid (an
    eleventh phone, an owner who may not be given customers), and ``Conflict`` when someone saved the
    customer meanwhile.

    A new owner is a transfer (or release) by ``actor``, as ``customers_bulk_assign`` makes one: on the
    ownership history, the timeline and the audit log (``_owner_moved``), not among the profile's
    changes. It is written with the row's other columns, so that undo (``customer_import_revert``) puts
    it back with them. Whether ``actor`` may assign customers is the caller's to ask.

    ``customer`` should come from ``customers_with_contacts``. Given ``timeline``, the row's timeline
    event is added to it, unsaved, for the caller to insert with the rest of its batch
    (``objects_insert``); otherwise it is saved here."""
    plan = _import_plan(customer=customer, checked=checked, provided=provided, definitions=definitions)
    if plan is None:
        return None
    merged, clean, changed, known_phones = plan.merged, plan.clean, plan.changed, plan.known_phones
    moved_from = customer.owner if "owner" in changed else None
    if "owner" in changed and merged.owner is not None:
        _check_new_owner(merged.owner, key="owner")
    new_addresses, new_socials, new_tags = plan.new_addresses, plan.new_socials, plan.new_tags

    before_snapshot = _import_snapshot(customer)
    # Stored columns (source_id, not source), so that undo writes back what was there.
    columns = tuple(f"{name}_id" if name in _FOREIGN_KEYS else name for name in (*changed, *_DERIVED))
    before = {name: _json_of(getattr(customer, name)) for name in (*columns, "updated_by_id", "updated_at")}
    version = customer.version
    _apply_profile(customer, merged, clean)
    customer.version = version + 1
    customer.updated_by = actor
    customer.updated_at = timezone.now()
    # A row that writes more than its customer's row does so in a savepoint of its own, so that one
    # failing half-way leaves the batch's other rows be; the UPDATE alone is all or nothing already (and
    # is what most changed rows write), and it goes first, so a conflict has written nothing.
    several = bool(new_addresses or new_socials or new_tags or "owner" in changed) or any(
        p[2] not in known_phones for p in clean.phones
    )
    with transaction.atomic() if several else nullcontext():
        written = row_update(
            Customer,
            customer.pk,
            {
                **{name: getattr(customer, name) for name in columns},
                "version": customer.version,
                "updated_by": actor.pk if actor is not None else None,
                "updated_at": customer.updated_at,
            },
            where={"version": version},
        )
        if not written:
            raise Conflict(_("Someone else saved this customer during the import."))
        added_clean = _Clean(
            phones=[p for p in clean.phones if p[2] not in known_phones],
            email_lookup=clean.email_lookup,
            custom=clean.custom,
            active_custom_keys=clean.active_custom_keys,
        )
        added_input = CustomerInput(addresses=new_addresses, socials=new_socials)
        phones, addresses, socials = _children(customer, added_clean, added_input, position=len(known_phones))
        Customer.tags.through.objects.bulk_create(
            Customer.tags.through(customer_id=customer.pk, tag_id=tag.pk) for tag in new_tags
        )
        added = {
            "phones": [p.pk for p in CustomerPhone.objects.bulk_create(phones)],
            "addresses": [a.pk for a in Address.objects.bulk_create(addresses)],
            "socials": [s.pk for s in SocialAccount.objects.bulk_create(socials)],
            "tags": [t.pk for t in new_tags],
        }
        after_snapshot = _import_snapshot(
            customer, phones=phones, addresses=addresses, socials=socials, tags=new_tags
        )
        changes = {
            k: [before_snapshot[k][1], v[1]]
            for k, v in after_snapshot.items()
            if before_snapshot[k][0] != v[0] and k != "owner"
        }
        if "owner" in changed:
            _owner_moved(
                customer=customer,
                actor=actor,
                from_user=moved_from,
                to_user=merged.owner,
                import_id=import_id,
            )
        if changes or "owner" not in changed:
            event = CustomerEvent(
                customer=customer,
                actor=actor,
                kind="customer.updated",
                data={"changes": changes, "import": import_id},
            )
            if timeline is None:
                event.save()
            else:
                timeline.append(event)
    after: dict[str, Any] = {
        name: _json_of(getattr(customer, name)) for name in columns if name not in _DERIVED
    }
    if plan.custom_changed:
        after["custom"] = customer.custom
    after |= {
        "phones": [p.number for p in phones],
        "addresses": [[a.province, a.city, a.district, a.detail] for a in addresses],
        "socials": [[s.kind, s.kind_label, s.handle] for s in socials],
        "tags": [t.name for t in new_tags],
    }
    return ImportedChange(
        customer=customer,
        before=before,
        added={k: v for k, v in added.items() if v},
        after={k: v for k, v in after.items() if v or k in columns},
    )


def _import_snapshot(
    customer: Customer,
    *,
    phones: Sequence[CustomerPhone] = (),
    addresses: Sequence[Address] = (),
    socials: Sequence[SocialAccount] = (),
    tags: Sequence[Tag] = (),
) -> dict[str, tuple[str, str]]:
    """The timeline's view of what an import changed, per field (value to compare, value to record):
    profile values as shown, contact details masked, notes not at all. ``phones`` etc.: rows just
    added (the prefetched lists do not have them)."""
    snap = {
        name: ("" if getattr(customer, name) is None else str(getattr(customer, name)),) * 2
        for name in IMPORT_SCALARS
        if name not in {"email", "notes"}
    }
    snap["email"] = (customer.email, mask_email(customer.email))
    snap["notes"] = (customer.notes, "…" if customer.notes else "")
    snap["custom"] = (str(dict(sorted((customer.custom or {}).items()))),) * 2
    names = "、".join(t.name for t in [*_stored(customer, "tags"), *tags])
    snap["tags"] = (names, names)
    numbers = [p.number for p in [*_stored(customer, "phones"), *phones]]
    snap["phones"] = (", ".join(numbers), ", ".join(mask_phone(n) for n in numbers))
    places = [*_stored(customer, "addresses"), *addresses]
    snap["addresses"] = (
        "; ".join(f"{a.province}{a.city}{a.district}{a.detail}" for a in places),
        "; ".join(f"{a.province}{a.city}{a.district}{mask_address(a.detail)}" for a in places),
    )
    accounts = [*_stored(customer, "socials"), *socials]
    snap["socials"] = (
        ", ".join(f"{s.kind}:{s.handle}" for s in accounts),
        ", ".join(
            f"{_social_kind_labels(get_language()).get(s.kind, s.kind)}: {mask_text(s.handle)}"
            for s in accounts
        ),
    )
    return snap


@functools.lru_cache(maxsize=8)
def _social_kind_labels(language: str | None) -> dict[str, str]:
    """``get_kind_display`` for every kind at once, in ``language`` (the active one): an import's update
    records each account's kind twice a row, and Django builds the field's choices anew for each."""
    return {value: str(label) for value, label in SocialKind.choices}


def customer_import_revert(
    *,
    customer_id: int,
    before: dict[str, Any],
    added: dict[str, list[int]],
    version: int,
    undone_version: int,
) -> bool:
    """Put back what ``customer_import_merge`` changed, if the customer is still at ``version``, and
    give them ``undone_version``. False when someone changed the customer since: nothing is written then.

    ``undone_version`` is a version the customer never had (``transfer.versions``): back at the one
    before the import, the customer would come to the import's version again with the next import's
    values, and a form opened on this import's would save over them. An owner put back is recorded by
    ``customers_import_owners_put_back``."""
    values = {**before}
    if values.get("birthday"):
        values["birthday"] = date.fromisoformat(values["birthday"])
    values["updated_at"] = datetime.fromisoformat(values["updated_at"])
    # The encrypted phone goes through its field, as a save would (``update`` does call get_prep_value).
    current = Customer.objects.filter(pk=customer_id, version=version)
    restored = current.update(**values, version=undone_version)
    if not restored:
        return False
    CustomerPhone.objects.filter(customer_id=customer_id, pk__in=added.get("phones", [])).delete()
    Address.objects.filter(customer_id=customer_id, pk__in=added.get("addresses", [])).delete()
    SocialAccount.objects.filter(customer_id=customer_id, pk__in=added.get("socials", [])).delete()
    Customer.tags.through.objects.filter(customer_id=customer_id, tag_id__in=added.get("tags", [])).delete()
    return True


def customers_import_owners_put_back(
    *, actor: Any, moves: Sequence[tuple[int, int | None, int | None]], import_id: int
) -> None:
    """Record the owners an import's undo put back (``customer_import_revert``), each move (customer id,
    the owner the import gave, the one it had before) as a transfer, or a release, in ``actor``'s name,
    marked as the import's undo, on the ownership history, the timeline and the audit log, inside the
    caller's transaction. The customer is as they were; the history, a log of who had them when, keeps
    the import's move and tells of the move back rather than forget that a colleague held them meanwhile.
    Read and written for all at once: an undo may put back thousands."""
    if not moves:
        return
    customers = Customer.objects.in_bulk([customer_id for customer_id, _, _ in moves])
    staff = get_user_model()._default_manager.in_bulk(
        {u for move in moves for u in move[1:] if u is not None}
    )
    recorded = [
        events.customer_owner_changed_unsaved(
            customer=customers[customer_id],
            actor=actor,
            kind=_owner_move_kind(to_id),
            from_user=staff.get(from_id) if from_id is not None else None,
            to_user=staff.get(to_id) if to_id is not None else None,
            import_id=import_id,
            undo=True,
        )
        for customer_id, from_id, to_id in moves
    ]
    CustomerEvent.objects.bulk_create(event for event, _audit in recorded)
    audit_records([audit for _event, audit in recorded])
