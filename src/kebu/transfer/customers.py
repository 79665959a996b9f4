"""One row of a customer sheet into what ``customers.services.customer_create`` takes, and every problem
with it tied to the column and value it came from, for the validation report.

The row is checked twice, the way it will be saved: first each cell on its own (a date that is not a
date, a gender nobody can read), then the whole input by the customer services' own validation, so the
import refuses exactly what the new-customer form refuses, and says so in the same words. Nothing here
writes: ``customer_file_check`` hands the file to the dry run (``transfer.rehearsals``), which writes only
in transactions it rolls back."""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from kebu.core import divisions
from kebu.core.errors import ValidationFailed
from kebu.core.masking import is_masked
from kebu.core.phone import PHONE_SEPARATORS, clean_digits, mobile_national
from kebu.core.templatetags.kebu import phone_display
from kebu.core.text import fold, list_join, name_tidy
from kebu.customers.models import (
    CustomerType,
    CustomField,
    CustomFieldType,
    Gender,
    SocialKind,
    SourceChannel,
    Stage,
    Tag,
)
from kebu.customers.privacy import ADDRESS, EMAIL, PHONE, SOCIAL, TEXT
from kebu.customers.selectors import assignable_users
from kebu.customers.services import (
    IMPORT_SCALARS,
    AddressInput,
    CheckedCustomer,
    CustomerInput,
    PhoneInput,
    SocialInput,
    customer_input_check,
)
from kebu.transfer.cells import (
    CellError,
    as_written,
    date_correction,
    date_parse,
    formula_error_refuse,
    money_correction,
    month_day_only,
    normalized,
    number_parse,
    text_correction,
    text_parse,
)
from kebu.transfer.corrections import CORRECTIONS_LISTED, Correction
from kebu.transfer.headers import headers_match, mapping_one_column_each
from kebu.transfer.models import ImportKind
from kebu.transfer.readers import Cell

# A custom field's type -> how its cell is read, and what the reading says it took otherwise than written.
_CUSTOM_PARSERS = {
    CustomFieldType.DATE: (date_parse, date_correction),
    CustomFieldType.NUMBER: (number_parse, money_correction),
}
# Header field key -> the kind of social account its column holds.
SOCIAL_COLUMNS = {
    "wechat": SocialKind.WECHAT,
    "qq": SocialKind.QQ,
    "wangwang": SocialKind.TAOBAO,
    "douyin": SocialKind.DOUYIN,
    "xiaohongshu": SocialKind.XIAOHONGSHU,
}
_GENDER_WORDS = {
    "男": Gender.MALE,
    "男性": Gender.MALE,
    "先生": Gender.MALE,
    "m": Gender.MALE,
    "male": Gender.MALE,
    "女": Gender.FEMALE,
    "女性": Gender.FEMALE,
    "女士": Gender.FEMALE,
    "f": Gender.FEMALE,
    "female": Gender.FEMALE,
    "未知": Gender.UNKNOWN,
    "保密": Gender.UNKNOWN,
    "unknown": Gender.UNKNOWN,
}
# Words a sheet uses for a type or stage besides Kebu's own labels (both languages) and keys.
_TYPE_WORDS = {
    "个人": CustomerType.INDIVIDUAL,
    "散客": CustomerType.INDIVIDUAL,
    "批发": CustomerType.WHOLESALER,
    "批发商": CustomerType.WHOLESALER,
    "零售": CustomerType.RETAILER,
    "零售商": CustomerType.RETAILER,
    "公司": CustomerType.COMPANY,
    "企业": CustomerType.COMPANY,
}
_STAGE_WORDS = {
    "潜在": Stage.LEAD,
    "潜在客户": Stage.LEAD,
    "新客": Stage.NEW,
    "新客户": Stage.NEW,
    "复购": Stage.REPEAT,
    "老客": Stage.REPEAT,
    "会员": Stage.MEMBER,
    "流失": Stage.CHURNED,
}
# What an owner cell says for nobody: the shared pool, as the customer pages name it (公海), which a
# customer export writes for a customer nobody owns, so that the sheet says so rather than leave it blank
# (a blank cell changes nothing, and gives a new customer the import's owner).
SHARED_POOL = gettext_lazy("Shared pool")


@lru_cache(maxsize=1)
def shared_pool_words() -> frozenset[str]:
    """The words an owner cell may use for the shared pool, lower case: 公海, and ``SHARED_POOL`` in
    each language Kebu speaks, whichever language the sheet was exported in."""
    words = {"公海"}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            words.add(str(SHARED_POOL).lower())
    return frozenset(words)


# The services' field names -> the sheet's field key that fed them.
_SERVICE_FIELDS = {
    "name": "name",
    "gender": "gender",
    "birthday": "birthday",
    "email": "email",
    "customer_type": "customer_type",
    "stage": "stage",
    "notes": "notes",
    "phones": "phone",
    "addresses": "address",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a row: where (row as the merchant sees it, column header), the value as it
    stood, and why. ``column`` is empty for a problem of the row as a whole."""

    row: int
    column: str
    value: str
    reason: str


@dataclass
class CustomerRow:
    number: int
    data: CustomerInput | None  # None when the row has problems
    customer_no: str = ""
    problems: list[Problem] = field(default_factory=list)
    # The input's fields the row has a value for ("name", "phones", "custom.<key>", …): what an import
    # may change on a customer it matched. A blank cell says nothing.
    provided: frozenset[str] = frozenset()
    checked: CheckedCustomer | None = None
    # The tags the row names; the import finds or makes them when it writes (reading writes nothing).
    tag_names: tuple[str, ...] = ()
    # Problems with cells the reader was told to leave out rather than refuse the row for (an order's
    # buyer: see transfer.orders).
    warnings: list[Problem] = field(default_factory=list)
    # Cells taken otherwise than written (transfer.corrections); none on a row with problems.
    corrections: list[Correction] = field(default_factory=list)
    # The owner cell names someone who may not be given customers now (``References.others``): the row's
    # problem only if it would give them a customer, which the import knows once it has matched the row
    # (``imports._owner_refused``). Naming the one who owns the customer already changes nothing.
    owner_refused: Problem | None = None
    # The digits a marketplace left of a phone it masked (135****4444): no phone to keep, but enough to
    # tell two buyers of one name at one street apart (an order's buyer: see transfer.orders).
    masked_phone_tail: str = ""


@dataclass
class References:
    """The shop's own names a sheet may use, read once per file rather than once a row: source channels
    and staff members (by login name or display name). ``staff`` are those who may be given customers,
    the ones the customer page offers (``selectors.assignable_users``); ``others`` the rest (who left,
    or do not work with customers): a cell naming one is refused, saying why, where it would give them a
    customer, and is no change where they own the customer already (a re-import of Kebu's own export)."""

    sources: dict[str, SourceChannel]
    staff: dict[str, list[Any]]
    others: dict[str, list[Any]] = field(default_factory=dict)
    # The shop's tags whose names hold a list separator (高客单、复购), as a cell reads them -> the name.
    joined_tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> References:
        staff: dict[str, list[Any]] = defaultdict(list)
        others: dict[str, list[Any]] = defaultdict(list)
        assignable = set(assignable_users().values_list("pk", flat=True))
        for member in get_user_model()._default_manager.order_by("pk"):
            for word in {member.username.lower(), str(member).lower()}:
                (staff if member.pk in assignable else others)[word].append(member)
        return cls(
            sources={source.name.lower(): source for source in SourceChannel.objects.all()},
            staff=dict(staff),
            others=dict(others),
            joined_tags=_joined(Tag.objects.values_list("name", flat=True)),
        )


# A sheet's field key -> the input field it feeds.
_PROVIDES = {
    "name": "name",
    "gender": "gender",
    "birthday": "birthday",
    "email": "email",
    "customer_type": "customer_type",
    "stage": "stage",
    "notes": "notes",
    "phone": "phones",
    "address": "addresses",
    # A region alone is an address too (``customer_row_read``).
    "province": "addresses",
    "city": "addresses",
    "district": "addresses",
    "source": "source",
    "owner": "owner",
    "tags": "tags",
    **{key: "socials" for key in SOCIAL_COLUMNS},
}
_REFERENCING = {"source", "owner", "tags"}
# The sheet's fields that find a customer already in Kebu without a name or a phone: what the import
# matches by besides those (``imports._Keys``). A row with one of them and neither a name nor a phone
# updates the customer who has it (a 客户编号 | 标签 sheet), and makes nobody (``key_unknown_problem``).
KEYS = frozenset({"customer_no", "email", *SOCIAL_COLUMNS})
# A customer sheet needs a column of one of these, or no row could be matched or made.
IDENTIFYING = KEYS | {"name", "phone"}
TAG_MAX_LENGTH = 30
CUSTOM_PREFIX = "cf_"
_SEPARATORS = ",，、;；\n"
_LIST_SEPARATORS = re.compile(f"[{_SEPARATORS}]+")


def columns_feeding(mapping: Mapping[int, str], cells: Sequence[Cell], fields: frozenset[str]) -> list[int]:
    """The columns of a row (its ``cells``) with a value that feed one of ``fields`` (the input's, as
    ``CustomerRow.provided`` names them, "custom.<key>" for one custom field; "custom" for every one), in
    the sheet's order."""
    return [
        index
        for index, key in sorted(mapping.items())
        if normalized(cells[index])
        and (
            _PROVIDES.get(key) in fields
            or (
                key.startswith(CUSTOM_PREFIX) and ({"custom", "custom." + key[len(CUSTOM_PREFIX) :]} & fields)
            )
        )
    ]


def customer_headers_match(headers: Sequence[str], definitions: Sequence[CustomField]) -> dict[int, str]:
    """``headers.headers_match`` with the shop's custom fields: a column headed by a field's label or key
    feeds that field (``cf_<key>``)."""
    extra = {}
    for definition in definitions:
        extra[definition.label] = extra[definition.key] = CUSTOM_PREFIX + definition.key
    return headers_match(headers, extra=extra)


def customer_row_read(
    number: int,
    cells: Sequence[Cell],
    *,
    mapping: Mapping[int, str],
    headers: Sequence[str],
    definitions: Sequence[CustomField] | None = None,
    references: References | None = None,
    key_enough: bool = False,
) -> CustomerRow:
    """Row ``number`` (its ``cells``), with ``mapping`` (column index -> field key, see
    ``headers.headers_match``) saying which column is which field. ``definitions`` (the active custom
    fields) and ``references`` (source and staff names) are read once by whoever reads many rows.
    ``key_enough``: a row with a key an import matches customers by (``KEYS``: a customer number, an
    account, an email) may leave out the name and phone, which only a new customer needs; its import
    refuses it when no customer has the key (a customer sheet's row: ``key_unknown_problem``; an order's
    buyer: ``transfer.orders``)."""
    columns = {key: index for index, key in mapping.items()}
    problems: list[Problem] = []
    corrections: list[Correction] = []

    def cell(key: str) -> Cell:
        index = columns.get(key)
        return None if index is None else cells[index]

    def problem(key: str, reason: str) -> None:
        index = columns.get(key)
        where = headers[index] if index is not None else ""
        problems.append(Problem(number, where, "" if index is None else normalized(cells[index]), reason))

    def corrected(key: str, taken: str, reason: str) -> None:
        index = columns[key]
        corrections.append(Correction(number, headers[index], as_written(cells[index]), taken, reason))

    # A masked contact detail (138****5678, z***@qq.com, ****), as an export gives it to whoever may not
    # see it, says nothing of the customer: taken, it would replace the real one. Read as a blank cell.
    masked = [key for key, kind in _MASKABLE.items() if _masked_cell(cells, columns.get(key), kind)]
    for key in masked:
        corrected(key, "", _("Masked, as Kebu shows it to those who may not see it: not imported."))
    if masked:
        blank = {columns[key] for key in masked}
        cells = [None if index in blank else value for index, value in enumerate(cells)]

    def text(key: str, max_length: int, *, free: bool = False, noted: bool = True) -> str:
        """The cell's text; ``noted``: a change to it is a correction (else the caller says what the
        text became)."""
        try:
            value = text_parse(raw := cell(key), max_length=max_length, free=free)
        except CellError as exc:
            problem(key, str(exc))
            return ""
        if noted and not free and (reason := text_correction(raw, value)):
            corrected(key, value, reason)
        return value

    def choice(key: str, words: Mapping[str, str], choices: Any, default: str) -> str:
        value = text(key, 40, noted=False)
        if not value:
            return default
        found = words.get(value.lower(), _choice_words(choices, get_language()).get(value.lower()))
        if found is None:
            labels = list_join(label for v, label in choices.choices if v)
            problem(key, _("“%(value)s” is not one of: %(choices)s.") % {"value": value, "choices": labels})
            return default
        # A word of the sheet's own (先生, m, 批发) is taken as Kebu's choice: a correction unless the
        # sheet wrote the choice as Kebu's pages name it, in either language (an export made in English,
        # imported in Chinese, changes nothing).
        if as_written(cell(key)).lower() not in _labels_everywhere(choices, found):
            corrected(key, str(choices(found).label), _("Taken as the choice Kebu has for this word."))
        return found

    written_name = text("name", 100, free=True)
    if (name := name_tidy(written_name)) != written_name.strip():
        corrected("name", name, _("Spaces inside the name left out, as Kebu keeps names."))
    data = CustomerInput(
        name=name,
        gender=choice("gender", _GENDER_WORDS, Gender, Gender.UNKNOWN),
        email=text("email", 254),
        customer_type=choice("customer_type", _TYPE_WORDS, CustomerType, CustomerType.INDIVIDUAL),
        stage=choice("stage", _STAGE_WORDS, Stage, Stage.LEAD),
        notes=text("notes", 5000, free=True),
    )
    if normalized(birthday := cell("birthday")):
        try:
            data.birthday = date_parse(birthday)
        except CellError as exc:
            if month_day_only(birthday):
                # It is a date, only not a whole one: "not a date, write it as 2024-01-05" was no help.
                reason = _(
                    "“%(value)s” has no year, and Kebu keeps a birthday with its year: write the year of "
                    "birth (1990年3月5日), or empty the cell to import the customer without a birthday."
                ) % {"value": normalized(birthday)}
                problem("birthday", reason)
            else:
                problem("birthday", str(exc))
        else:
            if as_taken := date_correction(birthday, data.birthday):
                corrected("birthday", *as_taken)
    if phone := text("phone", 40, noted=False):
        data.phones = [PhoneInput(number=phone)]
    data.socials = [
        SocialInput(kind=kind, handle=handle)
        for key, kind in SOCIAL_COLUMNS.items()
        if (handle := text(key, 100))
    ]
    detail = text("address", 200, free=True)
    province, city, district = text("province", 30), text("city", 30), text("district", 30)
    if province:
        # Each in its own column, shortened as people write them (广东, 深圳, 上海): taken in full from
        # the division list, as a whole-address cell is. 市辖区 is not shown, as below.
        given = {"province": province, "city": city, "district": district}
        province, city, district = divisions.names_as_listed(province, city, district)
        for key, taken in (("province", province), ("city", city), ("district", district)):
            if taken != given[key] and taken != "市辖区":
                corrected(key, taken, _("Completed from the list of provinces, cities and districts."))
    elif detail:
        # One cell for the whole address, as marketplaces export it: 浙江省 杭州市 西湖区 文三路1号.
        whole = detail
        province, city, district, detail = divisions.address_split(whole)
        # A name the cell shortened (广东深圳南山区…) is taken in full from the division list: a
        # correction. 市辖区, the list's city of a municipality, is never written, and not shown.
        written = "".join(whole.split())
        named = [part for part in (province, city, district) if part and part != "市辖区"]
        if any(part not in written for part in named):
            taken = " ".join([*named, detail])
            corrected("address", taken, _("Completed from the list of provinces, cities and districts."))
    if province:
        # With its street, or a region alone (广东 深圳, as a wholesaler's sheet keeps it): an address
        # either way, the customer's region in the list.
        data.addresses = [
            AddressInput(
                province=province,
                city=divisions.city_as_listed(province, city),
                district=district,
                detail=detail,
                receiver=data.name[:50],
                is_default=True,
            )
        ]
    elif detail:
        problem(
            "address",
            _("Which province? Start the address with it (浙江省杭州市…) or add a province column."),
        )
    else:
        # A city or district without its province: said on its cells rather than dropped without a word.
        for key, value in (("city", city), ("district", district)):
            if value:
                corrected(
                    key,
                    "",
                    _(
                        "Not imported: a city or district is kept with its province. Add a province "
                        "column, or add the address on the customer's page."
                    ),
                )
    for definition in definitions or ():
        raw = cell(CUSTOM_PREFIX + definition.key)
        if not normalized(raw):
            continue
        try:
            formula_error_refuse(raw)  # a list or a choice is taken as its text, not through a parser
        except CellError as exc:
            problem(CUSTOM_PREFIX + definition.key, str(exc))
            continue
        if parser := _CUSTOM_PARSERS.get(definition.field_type):
            parse, correction = parser
            try:
                data.custom[definition.key] = parse(raw)
            except CellError as exc:
                problem(CUSTOM_PREFIX + definition.key, str(exc))
            else:
                if as_taken := correction(raw, data.custom[definition.key]):
                    corrected(CUSTOM_PREFIX + definition.key, *as_taken)
        elif definition.field_type == CustomFieldType.MULTI:
            data.custom[definition.key] = _list_split(normalized(raw), _joined(definition.choices))
        elif definition.field_type == CustomFieldType.TEXT:
            data.custom[definition.key] = text(CUSTOM_PREFIX + definition.key, 500, free=True)
        else:
            data.custom[definition.key] = normalized(raw)
    if references is None and _REFERENCING & set(columns):
        references = References.load()
    if references is not None and (source_name := text("source", 40)):
        data.source = references.sources.get(source_name.lower())
        if data.source is None:
            known = list_join(s.name for s in references.sources.values() if s.is_active)
            message = _("“%(value)s” is not one of the shop's sources (%(known)s); admins add sources.")
            problem("source", message % {"value": source_name, "known": known})
    owner_refused = None
    if references is not None and (owner_name := text("owner", 150)):
        found = references.staff.get(owner_name.lower(), [])
        if owner_name.lower() in shared_pool_words():
            # Nobody: with "owner" provided, a new customer goes to the pool, and one already in Kebu is
            # released to it (``imports._update``), in the hands of someone who may assign customers.
            data.owner = None
        elif len(found) == 1:
            data.owner = found[0]
        elif not found and owner_name.lower() in references.others:
            # As the customer page offers only them (``selectors.assignable_users``).
            reason = _(
                "“%(value)s” cannot be given customers: they have left or do not work with customers. "
                "Name an active colleague who does."
            ) % {"value": owner_name}
            if len(gone := references.others[owner_name.lower()]) == 1:
                data.owner = gone[0]
                at = columns["owner"]
                owner_refused = Problem(number, headers[at], normalized(cells[at]), reason)
            else:
                problem("owner", reason)
        elif not found:
            problem("owner", _("No staff member is called “%(value)s”.") % {"value": owner_name})
        else:
            message = _("Several staff members are called “%(value)s”: use the login name.")
            problem("owner", message % {"value": owner_name})
    tag_names: tuple[str, ...] = ()
    if tags_text := text("tags", 1000):
        joined = references.joined_tags if references is not None else {}
        tag_names = tuple(dict.fromkeys(_list_split(tags_text, joined)))
        if too_long := [t for t in tag_names if len(t) > TAG_MAX_LENGTH]:
            message = _("A tag is at most %(max)s characters: “%(tag)s”.")
            problem("tags", message % {"max": TAG_MAX_LENGTH, "tag": too_long[0]})
    customer_no = text("customer_no", 20).upper()
    # The whole input too, so that one report names every bad cell; a column that already has its
    # problem is not named twice (its value was left out of the input).
    spoken_for = {p.column for p in problems}
    checked = None
    keyed = key_enough and bool(customer_no or data.socials or data.email)
    try:
        checked = customer_input_check(data=data, definitions=definitions, name_needed=not keyed)
    except ValidationFailed as exc:
        for name, messages in exc.field_errors.items():
            parts = name.split(".")  # "addresses.0.province": the province column, if the sheet has one
            if parts[0] == "custom":
                key = CUSTOM_PREFIX + parts[1]
            else:
                key = parts[-1] if parts[-1] in columns else _SERVICE_FIELDS.get(parts[0], "")
            if key == "province" and data.addresses:
                key = _division_at_fault(data.addresses[0], columns)
            named_by = next((k for k in ("customer_no", *SOCIAL_COLUMNS, "email") if k in columns), None)
            if key == "name" and key_enough and named_by and not {"name", "phone"} & columns.keys():
                # A sheet that names its customers by a key alone (客户编号 | 标签): this row's key is blank.
                message = _("This row names no customer: fill in %(column)s.")
                problem(named_by, message % {"column": headers[columns[named_by]]})
                continue
            index = columns.get(key)
            if index is not None and headers[index] in spoken_for:
                continue
            for message in messages:
                problem(key, str(message))
    if problems:
        return CustomerRow(number, None, customer_no=customer_no, problems=problems)
    provided = {
        _PROVIDES[key] for key, index in columns.items() if key in _PROVIDES and normalized(cells[index])
    }
    provided |= {f"custom.{key}" for key in data.custom}
    if phone and checked is not None and checked.clean.phones:
        # The number as Kebu keeps it against the digits as written: spaces and dashes between them
        # are only how it was laid out (Kebu's own export writes 138 1234 5678); a country code taken
        # off, or full-width digits made plain, change what the merchant reads.
        taken = PHONE_SEPARATORS.sub("", phone_display(checked.clean.phones[0][0]))
        if PHONE_SEPARATORS.sub("", as_written(cell("phone"))) != taken:
            corrected("phone", taken, _("Taken as the phone number Kebu keeps."))
    if len(corrections) > 1:  # in the sheet's order of columns, as the merchant reads the row
        corrections.sort(key=lambda c: headers.index(c.column))
    return CustomerRow(
        number,
        data,
        customer_no=customer_no,
        problems=problems,
        provided=frozenset(provided),
        checked=checked,
        tag_names=tag_names,
        corrections=corrections,
        owner_refused=owner_refused,
    )


@lru_cache(maxsize=64)
def _labels_everywhere(choices: Any, value: str) -> frozenset[str]:
    """The choice ``value``'s label in each language Kebu speaks, lower case."""
    labels = set()
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            labels.add(str(choices(value).label).lower())
    return frozenset(labels)


@lru_cache(maxsize=32)
def _choice_words(choices: Any, language: str | None) -> dict[str, str]:
    """A choice's keys and its labels in every language Kebu speaks, lower case, to the key: an export
    made in English (Repeat buyer) is imported in Chinese, and one made in Chinese (成交) in English.
    ``language``'s own labels come last, so that they win where two languages share a word. Built once
    per language, not for every cell."""
    words: dict[str, str] = {}
    for other, _name in [*settings.LANGUAGES, (language, "")]:
        with translation.override(other):
            words.update((str(label).lower(), value) for value, label in choices.choices)
    return {**words, **{v: v for v in choices.values}}


def _joined(names: Iterable[str]) -> dict[str, str]:
    """Those of ``names`` (the shop's tags, a custom field's choices) that hold a list separator, as a
    cell reads them (``normalized``) -> the name."""
    read = {" ".join(normalized(name).split()): name for name in names}
    return {text: name for text, name in read.items() if _LIST_SEPARATORS.search(text)}


def _list_split(text: str, joined: Mapping[str, str]) -> list[str]:
    """The names in a list cell (tags, a multiple choice), split at its list separators, except that a
    name of the shop's that holds one (``joined``, from ``_joined``) is one name, as the export wrote it:
    split, a tag 高客单、复购 would come back as two new tags, a choice as two it does not have."""
    names = []
    for read in sorted(joined, key=len, reverse=True):
        whole = re.compile(rf"(?:^|(?<=[{_SEPARATORS}]))\s*{re.escape(read)}\s*(?=[{_SEPARATORS}]|$)")
        text, found = whole.subn("", text)
        if found:
            names.append(joined[read])
    return [*names, *(t.strip() for t in _LIST_SEPARATORS.split(text) if t.strip())]


# A sheet's contact columns and how an export masks each (``customers.privacy``).
_MASKABLE = {
    "phone": PHONE,
    "email": EMAIL,
    **dict.fromkeys(SOCIAL_COLUMNS, SOCIAL),
    "address": ADDRESS,
    "notes": TEXT,
}


def _masked_cell(cells: Sequence[Cell], index: int | None, kind: str) -> bool:
    value = cells[index] if index is not None else None
    return isinstance(value, str) and is_masked(kind, value.strip())


def _division_at_fault(address: AddressInput, columns: Mapping[str, int]) -> str:
    """The column of the first part of an address the division list does not have: the province, or the
    city under it, or the district under that."""
    if not divisions.is_valid(address.province):
        return "province"
    if not divisions.is_valid(address.province, address.city) and "city" in columns:
        return "city"
    return "district" if "district" in columns else "province"


@dataclass
class FileCheck:
    """What a customer sheet holds, checked row by row without writing: how many rows are fine, and the
    others with their cells and problems (for the report)."""

    headers: list[str]
    mapping: dict[int, str]
    good: int = 0
    bad: list[tuple[int, list[Cell], list[Problem]]] = field(default_factory=list)
    # Cells of the good rows taken otherwise than written: all counted, the first kept for the report.
    corrected: int = 0
    corrections: list[Correction] = field(default_factory=list)
    # Customers already in Kebu the import would change, of those the reader may see: counted here,
    # listed only in the report (``rehearsals.import_file_check``).
    changed: int = 0

    def corrections_add(self, corrections: Sequence[Correction]) -> None:
        room = CORRECTIONS_LISTED - len(self.corrections)
        if room > 0:
            self.corrections += corrections[:room]
        self.corrected += len(corrections)

    @property
    def unmapped(self) -> list[str]:
        """Columns no field was found for: left out of the import unless the merchant maps them."""
        return [h for i, h in enumerate(self.headers) if i not in self.mapping]


@dataclass(frozen=True)
class Repeat:
    """A row whose customer a row further down the same sheet names again (``customer_rows_repeated``)."""

    # The key both name the customer by, as ``imports._Matches.found_by`` says what it matched by
    # ("customer_no", "phone", "social:<kind>", "email", "name"): the row gives way only when the import
    # found its customer by that key, for only then does it find the same customer for the rows below.
    key: str
    # What the rows below give of what a customer has one of, each with the nearest row that gives it.
    fields: Mapping[str, int]


def customer_rows_repeated(
    rows: Iterable[tuple[int, Sequence[Cell]]], mapping: Mapping[int, str]
) -> dict[int, Repeat]:
    """The rows of a customer sheet whose customer a row further down names again, each with the fields
    those rows give that a customer has one of (name, notes, owner, a custom field …, as
    ``CustomerRow.provided`` names them; not phones, addresses, accounts or tags, which are added to).

    A sheet lists a customer twice with different notes: read as a spreadsheet is, the lower row is the
    one that counts, and importing the sheet again must change nothing. So a row that updates a customer
    leaves these fields to the rows further down instead of setting them back each time
    (``imports._update``).

    Two rows are one customer here when the first key the import tries for each (``imports._Matches``:
    customer number, phone, account, email; the name of a row with none of those) is the same. Whether
    the import then finds one customer for both is known only as it goes: it does when it finds the upper
    row's customer by that very key (``Repeat.key``), which the rows below then meet first too. A customer
    number that no one has yet, or a phone of someone else's, sends the import on to another key, and the
    row is imported as it is. Rows that share only a later key (one's number, the other's phone) are not
    one customer here, nor are rows naming one customer by keys written otherwise: both are imported one
    after the other as before. The keys are the cells made plain (a mobile's 11 digits, an email in lower
    case), not checked as the import checks them.

    One pass over the sheet, keeping a hash, two numbers and a byte for each row (17 bytes); then two over the
    hashes, to find the few that more than one row has (``_positions_repeated``)."""
    overwrites: list[tuple[int, str]] = []
    keys: list[tuple[int, str]] = []
    for index, key in sorted(mapping.items()):
        if key.startswith(CUSTOM_PREFIX):
            overwrites.append((index, "custom." + key.removeprefix(CUSTOM_PREFIX)))
        elif _PROVIDES.get(key) in IMPORT_SCALARS:
            overwrites.append((index, _PROVIDES[key]))
        if key in _KEY_ORDER:
            keys.append((index, key))
    keys.sort(key=lambda column: _KEY_ORDER[column[1]])  # as the import tries them
    if (name := next((index for index, key in mapping.items() if key == "name"), None)) is not None:
        keys.append((name, "name"))  # for a row with none of the others
    matched_by = [_MATCHED_BY.get(key) or f"social:{SOCIAL_COLUMNS[key]}" for _index, key in keys]
    hashes = array("q")  # each row's first key
    numbers, given = array("I"), array("I")  # each row's number, and what of ``kinds`` it gives
    first_key = bytearray()  # which of ``keys`` each row's first key is
    kinds: dict[frozenset[str], int] = {}
    for number, cells in rows:
        first = next(
            ((i, text) for i, (index, _key) in enumerate(keys) if (text := normalized(cells[index]))), None
        )
        if first is None:
            continue  # names nobody: the import rejects it
        hashes.append(hash(_repeat_key(keys[first[0]][1], first[1])))
        numbers.append(number)
        first_key.append(first[0])
        fields = frozenset(field for index, field in overwrites if normalized(cells[index]))
        given.append(kinds.setdefault(fields, len(kinds)))
    fields_of = {kind: fields for fields, kind in kinds.items()}
    repeated: dict[int, Repeat] = {}
    for positions in _positions_repeated(hashes):
        # One customer's rows, bottom up: what the rows below each one give, and the nearest that does.
        below: dict[str, int] = {}
        for upper, lower in zip(positions[-2::-1], positions[:0:-1], strict=True):
            below |= dict.fromkeys(fields_of[given[lower]], numbers[lower])
            if below:
                repeated[numbers[upper]] = Repeat(matched_by[first_key[upper]], dict(below))
    return repeated


def _positions_repeated(hashes: array[int]) -> Iterator[list[int]]:
    """The positions in ``hashes`` of each value that it has more than once, in order. Two tables of
    2**24 bits (2 MB each) first find the values that may be repeated, those falling on a bit already set,
    and only those are then kept with their positions: a few per cent of a million. Values are 64-bit
    hashes of the keys: two keys with one hash (about one chance in 30 million for a million rows) would
    be taken for one customer's, and the upper row would leave its fields to a row of another customer,
    saying so in its note."""
    mask = (1 << 24) - 1
    seen, again = bytearray(1 << 21), bytearray(1 << 21)
    for value in hashes:
        slot = value & mask
        if seen[slot >> 3] & (bit := 1 << (slot & 7)):
            again[slot >> 3] |= bit
        else:
            seen[slot >> 3] |= bit
    del seen
    maybe: dict[int, list[int]] = defaultdict(list)
    for position, value in enumerate(hashes):
        slot = value & mask
        if again[slot >> 3] & (1 << (slot & 7)):
            maybe[value].append(position)
    return (positions for positions in maybe.values() if len(positions) > 1)


def _repeat_key(key: str, text: str) -> tuple[str, str]:
    """A key of ``customer_rows_repeated``: what rows naming the same customer by ``key`` have alike."""
    if key == "phone":
        digits = clean_digits(text)
        return "phone", mobile_national(digits) or digits
    if key == "customer_no":
        return key, text.upper()
    if key == "name":
        return key, text
    return SOCIAL_COLUMNS.get(key, key), fold(text)


# The keys ``customer_rows_repeated`` tells a row's customer by, in the order the import tries them: the
# accounts in ``SOCIAL_COLUMNS``' order, as ``customer_row_read`` lists them.
_KEY_ORDER = {
    "customer_no": 0,
    "phone": 1,
    **{key: 2 + i for i, key in enumerate(SOCIAL_COLUMNS)},
    "email": 2 + len(SOCIAL_COLUMNS),
}
# A key's word for what the import matched by (``imports._Matches.found_by``); an account's is
# "social:<kind>".
_MATCHED_BY = {"customer_no": "customer_no", "phone": "phone", "email": "email", "name": "name"}


def mapping_check(headers: Sequence[str], mapping: Mapping[int, str]) -> None:
    """Raise ``ValidationFailed`` unless some column holds what tells customers apart (``IDENTIFYING``),
    or when two columns feed one field (one of them would be dropped without a word)."""
    mapping_one_column_each(headers, mapping)
    if not IDENTIFYING & set(mapping.values()):
        raise ValidationFailed(
            _(
                "No column was recognised as the customer's name, phone, customer number, WeChat or another "
                "account, or email (headers: %(headers)s)."
            )
            % {"headers": list_join(headers[:20])}
        )


def key_unknown_problem(
    row: CustomerRow, *, cells: Sequence[Cell], mapping: Mapping[int, str], headers: Sequence[str]
) -> Problem:
    """Why ``row`` (its ``cells``) is refused when it names a customer by keys no customer has
    (``KEYS``) and has neither a name nor a phone, which a new customer needs: told on the cell of its
    first key in the order the import matches by (``imports._Keys``), the customer number, an account,
    the email."""
    assert row.data is not None
    if row.customer_no:
        key = "customer_no"
        reason = _(
            "No customer has the customer number %(value)s; a new customer needs a name or a phone."
        ) % {"value": row.customer_no}
    elif row.data.socials:
        account = row.data.socials[0]
        key = next(key for key, kind in SOCIAL_COLUMNS.items() if kind == account.kind)
        reason = _("No customer has the %(account)s %(value)s; a new customer needs a name or a phone.") % {
            "account": SocialKind(account.kind).label,
            "value": account.handle,
        }
    else:
        key = "email"
        reason = _("No customer has the email %(value)s; a new customer needs a name or a phone.") % {
            "value": row.data.email
        }
    index = next(index for index, mapped in mapping.items() if mapped == key)
    return Problem(row.number, headers[index], normalized(cells[index]), reason)


def customer_file_check(
    data: bytes | Path,
    *,
    sheet: str | None = None,
    mapping: dict[int, str] | None = None,
    actor: Any = None,
    report: str | IO[bytes] | None = None,
    reader: Any = None,
) -> FileCheck:
    """Read ``data`` (any file ``readers.table_read`` takes), take ``mapping`` or guess the columns from
    the header, and rehearse every row as ``actor``'s import would take it, writing nothing but the
    ``report``, if asked for, with what the import would change on customers already in Kebu as
    ``reader`` (by default ``actor``) may see them (``rehearsals.import_file_check``). Raises
    ``FileRefused`` for a file that cannot be read, and ``ValidationFailed`` when no column names a
    customer's name or phone."""
    from kebu.transfer.rehearsals import import_file_check  # the rehearsal imports this module

    return import_file_check(
        data,
        kind=ImportKind.CUSTOMERS,
        sheet=sheet,
        mapping=mapping,
        actor=actor,
        report=report,
        reader=reader,
    )
