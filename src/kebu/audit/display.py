"""How an audit entry reads on the log's page, in the reader's language: what it was done to ("Customer
C000123 张三", "Order KB00001268", "Import #3 客户.xlsx"), each detail under a label, each value as the
rest of Kebu shows it (¥1,234.00, Yes/No, a lifecycle stage's name, a list joined as the language joins
lists, an export's filters under the list page's own labels).

An entry keeps the program's keys and codes: they are hashed with it and never change. Only their
reading lives here, so an entry written before a label existed reads as well as a new one; a key or code
this module does not know is shown as it was stored, so a newer feature's entry still reads."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import get_language, gettext_lazy, pgettext
from django.utils.translation import gettext as _

from kebu.audit.selectors import CUSTOMER_TYPE
from kebu.core.text import list_join

# --- what an entry is about ------------------------------------------------------------------------------

# The page each kind of target can be seen on, by its id.
_TARGET_PAGES = {
    CUSTOMER_TYPE: "customers:detail",
    "orders.order": "orders:detail",
    "transfer.import": "transfer:detail",
    "engagement.ticket": "tickets:detail",
    "engagement.survey": "surveys:detail",
}


# Kinds of which there is one row: named by their kind alone.
_SINGLE_ROWS = {"core.shopsettings"}


def _model(target_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(target_type)
    except (LookupError, ValueError):
        return None


def target_text(entry: Any) -> str:
    """The target as a merchant names it: its kind, then its number and name ("Customer C000123 张三",
    "Import #3 客户.xlsx"); the kind alone, in the plural, for an entry about all of them (a recompute of
    every customer's figures); "" for none."""
    name = entry.target_repr or (f"#{entry.target_id}" if entry.target_id else "")
    if entry.target_type == "auth.group" and entry.target_repr:
        name = _role_names([name])
    model = _model(entry.target_type) if entry.target_type else None
    if model is None:
        return name or entry.target_type
    if not name:
        return str(capfirst(model._meta.verbose_name_plural))
    kind = str(capfirst(model._meta.verbose_name))
    # The shop's settings are one row, named as its kind is (in the language it was saved in): said once.
    if entry.target_type in _SINGLE_ROWS or name.casefold() == kind.casefold():
        return kind
    return f"{kind} {name}"


def target_url(entry: Any) -> str:
    """Where the target can be seen (a customer, an order, an import, a ticket, a survey); else ""."""
    page = _TARGET_PAGES.get(entry.target_type)
    if page is None or not (entry.target_id.isdigit() and entry.target_id.isascii()):
        return ""
    try:
        return reverse(page, args=[int(entry.target_id)])
    except NoReverseMatch:
        return ""


# --- values ----------------------------------------------------------------------------------------------


def colon() -> str:
    """What joins a label and its value in the reader's language ("Owner: 小李", "负责人：小李")."""
    return pgettext("between a label and what follows", ": ")


def lines_join(lines: Iterable[str]) -> str:
    """Several "label: value" items on one line: "; " between them in English, "；" in Chinese."""
    separator = "；" if (get_language() or "").startswith("zh") else "; "
    return separator.join(lines)


def yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def money(value: Any) -> str:
    """¥1,234.00, as every figure of the app reads; what is not an amount as it was."""
    from kebu.customers.columns import yuan

    try:
        return yuan(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


_ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def plain(value: Any) -> str:
    """Any stored value as text: a list joined, a yes or no, a moment in the shop's time zone."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, list):
        return list_join(plain(v) for v in value) or "—"
    if isinstance(value, dict):
        if "name" in value:  # a person as the entry kept them ({"id": 3, "name": "小李"})
            return str(value["name"])
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return moment.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _choice(choices: Any) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        labels = {str(k): v for k, v in choices}
        if isinstance(value, list):
            return list_join(str(labels.get(str(v), v)) for v in value)
        return str(labels.get(str(value), plain(value)))

    return read


def _enum(label: str) -> Callable[[Any], str]:
    """A value that is one of a model's choices (``"orders.PaymentMethod"``), by its name."""
    app_label, name = label.split(".")

    def read(value: Any) -> str:
        import importlib

        choices = getattr(importlib.import_module(f"kebu.{app_label}.models"), name).choices
        return _choice(choices)(value)

    return read


def _field_names(*labels: str, prefix: str = "") -> Callable[[Any], str]:
    """A list of a model's field names (``order.update``'s "fields"), each by its verbose name."""

    def read(value: Any) -> str:
        names = value if isinstance(value, list) else [value]
        return list_join(_model_field_label(labels, f"{prefix}{name}") for name in names)

    return read


def _model_field_label(labels: Iterable[str], name: str) -> str:
    for label in labels:
        if label == CUSTOMER_TYPE:
            from kebu.core.templatetags.kebu import field_label

            text = field_label(name)
            if text != name:
                return text
            continue
        field = _field(label, name.removesuffix("_id"))
        if field is not None:
            return str(field.verbose_name)
    return name


def _language(value: Any) -> str:
    return str(dict(settings.LANGUAGES).get(str(value), value))


def _file_format(value: Any) -> str:
    return {"xlsx": "Excel (.xlsx)", "csv": "CSV"}.get(str(value), str(value))


def _direction(value: Any) -> str:
    return {"up": _("Up"), "down": _("Down")}.get(str(value), str(value))


def _size(value: Any) -> str:
    return str(filesizeformat(value)) if isinstance(value, int) else str(value)


# The export each export action wrote, by the kind of list it left.
_EXPORT_KINDS = {"customer.export": "customers", "order.export": "orders", "product.export": "products"}


def _export_column_labels(kind: str) -> dict[str, str]:
    """An export's column keys and their headers in the file, as the export page lists them."""
    from kebu.customers.privacy import ContactPolicy
    from kebu.transfer import exports

    full = ContactPolicy(can_see=True, can_reveal=True)
    columns = {
        "customers": lambda: exports.customer_columns(full, figures=True),
        "orders": lambda: exports.order_columns(full),
        "products": lambda: exports.product_columns(with_cost=True),
    }[kind]()
    return {column.key: str(column.label) for column in columns}


def _attachments(value: Any) -> str:
    """A contact record's attachments as the entry keeps them (type, size; never the file's name)."""
    if not isinstance(value, list):
        return plain(value)
    return list_join(
        f"{item.get('type', '')} {_size(item.get('size'))}".strip() if isinstance(item, dict) else str(item)
        for item in value
    )


# --- an export's filters ---------------------------------------------------------------------------------

# What the list page's query string holds besides its filters: they do not narrow what left.
_NOT_FILTERS = {"page", "cols", "sort", "q"}
_TRUE = {"true", "1", "on", "yes", "True"}


def _filter_fields(action: str) -> dict[str, forms.Field]:
    """The fields of the filter form of the list an export of ``action`` was made from."""
    if action == "customer.export":
        from kebu.customers.filters import CustomerFilterSet
        from kebu.customers.models import Customer

        return dict(CustomerFilterSet(None, queryset=Customer.objects.none()).form.fields)
    if action == "order.export":
        from kebu.orders.forms import OrderFilterForm

        return dict(OrderFilterForm().fields)
    if action == "product.export":
        from kebu.orders.forms import ProductFilterForm

        return dict(ProductFilterForm().fields)
    if action == "audit.export":
        from kebu.audit.forms import AuditFilterForm

        fields = dict(AuditFilterForm().fields)
        fields["actor_id"] = fields.pop("actor")
        fields["since"] = forms.DateTimeField(label=_("Since"))
        return fields
    return {}


def _filters(entry: Any) -> dict[str, list[Any]]:
    """An export entry's filters, each as a list of the values it was given; {} for any other entry."""
    value = (entry.data or {}).get("filters") if isinstance(entry.data, Mapping) else None
    if not isinstance(value, Mapping):
        return {}
    return {
        str(key): values if isinstance(values, list) else [values]
        for key, values in value.items()
        if key not in _NOT_FILTERS
    }


def _choice_model(field: forms.Field | None) -> type[models.Model] | None:
    """The model whose rows a filter chooses by id (an owner, tags, a store), or None."""
    if isinstance(field, forms.ModelChoiceField) and field.queryset is not None:
        return field.queryset.model
    return None


def _ids(values: Iterable[Any]) -> set[str]:
    return {str(v) for v in values if str(v).isdigit() and str(v).isascii()}


class Reader:
    """Reads entries together, as a page or an export shows them: what each list's filter form and
    export columns are is worked out once per action, and the owners, tags, sources, stores … that the
    exports' filters hold by id are named with one query per kind of thing for all the entries, not
    one per entry. Built for the entries it will read (later ones are read too, at a query each)."""

    def __init__(self, entries: Iterable[Any] = ()) -> None:
        self._fields: dict[str, dict[str, forms.Field]] = {}
        self._columns: dict[str, dict[str, str]] = {}
        # The names found, by model and id; an id asked for and not found (deleted since) is absent.
        self._names: dict[type[models.Model], dict[str, str]] = {}
        self._asked: dict[type[models.Model], set[str]] = {}
        wanted: dict[type[models.Model], set[str]] = {}
        for entry in entries:
            filters = _filters(entry)
            fields = self.filter_fields(entry.action) if filters else {}
            for key, values in filters.items():
                model = _choice_model(fields.get(key))
                if model is not None:
                    wanted.setdefault(model, set()).update(_ids(values))
        for model, ids in wanted.items():
            self._names_fetch(model, ids)

    def filter_fields(self, action: str) -> dict[str, forms.Field]:
        if action not in self._fields:
            self._fields[action] = _filter_fields(action)
        return self._fields[action]

    def export_columns(self, kind: str, value: Any) -> str:
        if kind not in self._columns:
            self._columns[kind] = _export_column_labels(kind)
        labels = self._columns[kind]
        return list_join(labels.get(key, key) for key in (value if isinstance(value, list) else [value]))

    def _names_fetch(self, model: type[models.Model], ids: set[str]) -> None:
        asked = self._asked.setdefault(model, set())
        ids = ids - asked
        if not ids:
            return
        asked.update(ids)
        # The model's own rows, not the form's narrower choices: a top category since moved under
        # another is still named by its name.
        found = model._default_manager.filter(pk__in=sorted(ids, key=int))
        self._names.setdefault(model, {}).update((str(o.pk), str(o)) for o in found)

    def filter_value(self, field: forms.Field | None, values: list[Any]) -> str:
        if field is None:
            return list_join(plain(v) for v in values)
        model = _choice_model(field)
        if model is not None:
            # No query for the entries the reader was made for: their ids were fetched together.
            self._names_fetch(model, _ids(values))
            found = self._names.get(model, {})
            nobody = str(getattr(field, "null_label", None) or _("No owner"))
            return list_join(found.get(str(v), nobody if str(v) == "null" else f"#{v}") for v in values)
        if isinstance(field, forms.NullBooleanField | forms.BooleanField):
            return list_join(yes_no(str(v) in _TRUE) for v in values)
        choices = getattr(field, "choices", None)
        if choices:
            labels = {str(k): v for k, v in choices if not isinstance(v, list | tuple)}
            return list_join(str(labels.get(str(v), v)) for v in values)
        return list_join(plain(v) for v in values)

    def export_filters(self, action: str, value: Any) -> str:
        """``{"stage": ["vip", "member"], "spent_min": ["1000"]}`` as the list page says it:
        "Lifecycle stage: VIP, Member; Spent at least (¥): 1000"."""
        if not isinstance(value, dict):
            return plain(value)
        fields = self.filter_fields(action)
        lines = []
        for key, values in value.items():
            if key in _NOT_FILTERS:
                continue
            values = values if isinstance(values, list) else [values]
            field = fields.get(key)
            label = str(field.label) if field is not None and field.label else key
            if action == "audit.export" and key == "action":
                from kebu.audit.models import ACTION_LABELS

                shown = list_join(str(ACTION_LABELS.get(v, v)) for v in values)
            else:
                shown = self.filter_value(field, values)
            lines.append(f"{label}{colon()}{shown}")
        return lines_join(lines) or "—"


# --- details ---------------------------------------------------------------------------------------------

# Each key of an entry's data as a person reads it. Where a key means something else in one action's
# entries, ``_ACTION_LABELS`` says it for that action.
DETAIL_LABELS: dict[str, Any] = {
    "rows": gettext_lazy("Rows"),
    "username": gettext_lazy("Username"),
    "failures": gettext_lazy("Failed attempts"),
    "locked_out": gettext_lazy("While locked out"),
    "added": gettext_lazy("Added"),
    "removed": gettext_lazy("Removed"),
    "filters": gettext_lazy("Filters"),
    "is_active": gettext_lazy("active"),
    "is_staff": gettext_lazy("staff status"),
    "is_superuser": gettext_lazy("superuser status"),
    # customer.reveal: which contact detail, and the id of the phone, address … row it is in
    "field": gettext_lazy("Contact detail"),
    "item": gettext_lazy("Row id"),
    # two-step verification
    "new_phone": gettext_lazy("Replaced an earlier authenticator"),
    "left": gettext_lazy("Recovery codes left"),
    # exports and downloads
    "masked": gettext_lazy("Contact details masked"),
    "searched": gettext_lazy("Narrowed by a search"),
    "format": gettext_lazy("Format"),
    "columns": gettext_lazy("Columns exported"),
    "sheets": gettext_lazy("Sheets"),
    "date_from": gettext_lazy("From"),
    "date_to": gettext_lazy("Until"),
    "batch": gettext_lazy("Links made on"),
    # imports
    "file": gettext_lazy("File"),
    "bytes": gettext_lazy("File size"),
    "sha256": gettext_lazy("File fingerprint (SHA-256)"),
    # read with its values: "If a row has problems: All or nothing" (transfer.ImportMode's labels)
    "mode": gettext_lazy("If a row has problems"),
    "status": gettext_lazy("Status"),
    # an import's counts (an order sheet's are orders), and what its undo took back
    "created": gettext_lazy("Records created"),
    "updated": gettext_lazy("Records updated"),
    "unchanged": gettext_lazy("Records unchanged"),
    "rejected": gettext_lazy("Records rejected"),
    "restored": gettext_lazy("Records given their old values"),
    "customers_deleted": gettext_lazy("Customers made for buyers deleted"),
    "stages_restored": gettext_lazy("Lifecycle stages put back"),
    "products_deleted": gettext_lazy("Products deleted"),
    "tags_deleted": gettext_lazy("Tags it made deleted"),
    "tags_kept": gettext_lazy("Tags it made kept (in use)"),
    "categories_deleted": gettext_lazy("Categories it made deleted"),
    "categories_kept": gettext_lazy("Categories it made kept (in use)"),
    "brands_deleted": gettext_lazy("Brands it made deleted"),
    "brands_kept": gettext_lazy("Brands it made kept (in use)"),
    "refused": gettext_lazy("Refused as a whole"),
    "all_or_nothing": gettext_lazy("All or nothing"),
    "import": gettext_lazy("Import"),
    "undo": gettext_lazy("Undone"),
    "rows_to_fix": gettext_lazy("Rows to fix"),
    "corrected": gettext_lazy("Cells corrected"),
    "changed": gettext_lazy("Customers changed"),
    "dry_run": gettext_lazy("Check only (nothing imported)"),
    # customers
    "from": gettext_lazy("From"),
    "to": gettext_lazy("To"),
    "reason": gettext_lazy("Reason"),
    "auto": gettext_lazy("By the shop's rules"),
    "customer": gettext_lazy("Customer"),
    "customers": gettext_lazy("Customers"),
    "days": gettext_lazy("Days without an order"),
    "customers_changed": gettext_lazy("Customers whose figures changed"),
    "top_category_changed": gettext_lazy("Customers whose top category changed"),
    # orders, after-sales, credit, catalogue, stores
    "order": gettext_lazy("Order"),
    "amount": gettext_lazy("Amount"),
    "total": gettext_lazy("Total"),
    "method": gettext_lazy("Payment method"),
    "payment": gettext_lazy("Payment no."),
    "carrier": gettext_lazy("Carrier"),
    "fields": gettext_lazy("Fields changed"),
    "replacement": gettext_lazy("Replacement sent"),
    "replacement_sku": gettext_lazy("Replacement SKU"),
    "name": gettext_lazy("Store name"),
    "platform": gettext_lazy("Platform"),
    "position": gettext_lazy("Position"),
    "deleted": gettext_lazy("Deleted"),
    "subcategories renamed": gettext_lazy("Subcategories renamed with it"),
    "sku added": gettext_lazy("SKU added"),
    "imported": gettext_lazy("SKU imported"),
    "store": gettext_lazy("Store"),
    "channel": gettext_lazy("Channel"),
    # engagement
    "title": gettext_lazy("Title"),
    "question": gettext_lazy("Question no."),
    "direction": gettext_lazy("Direction"),
    "survey": gettext_lazy("Survey no."),
    "invitation": gettext_lazy("Survey link no."),
    "answers": gettext_lazy("Answers"),
    "already_open": gettext_lazy("Already had an open link"),
    "archived": gettext_lazy("Archived customers left out"),
    "not_found": gettext_lazy("Not found"),
    "delivered_within_days": gettext_lazy("Delivered within (days)"),
    "occurred_at": gettext_lazy("When"),
    "next_step_due": gettext_lazy("Next step due"),
    "followup": gettext_lazy("Follow-up no."),
    "attachments": gettext_lazy("Attachments"),
    "number": gettext_lazy("Ticket no."),
    "category": gettext_lazy("Ticket category"),
    "assignee": gettext_lazy("Assigned to"),
    "result": gettext_lazy("Result"),
    "satisfaction": gettext_lazy("Satisfaction"),
    "length": gettext_lazy("Characters"),
    "aftersale": gettext_lazy("After-sale no."),
    "rating": gettext_lazy("Rating"),
    "review": gettext_lazy("Review no."),
    "due_on": gettext_lazy("Due on"),
    "outcome": gettext_lazy("Outcome"),
    "language": gettext_lazy("Language"),
    # keys
    "started_new_key": gettext_lazy("Started a new key"),
    "rewritten": gettext_lazy("Values re-encrypted"),
    "finished": gettext_lazy("Finished"),
}

_ACTION_LABELS: dict[tuple[str, str], Any] = {
    ("catalogue.change", "created"): gettext_lazy("Added"),
    ("catalogue.change", "updated"): gettext_lazy("Changed"),
    ("catalogue.change", "deleted"): gettext_lazy("Deleted"),
    ("catalogue.change", "fields"): gettext_lazy("Fields imported"),
    ("aftersale.replacement", "fields"): gettext_lazy("Replacement details changed"),
    ("survey.invite_batch", "created"): gettext_lazy("Links made"),
    ("customer.churn", "customers"): gettext_lazy("Customers marked churned"),
    ("order.create", "status"): gettext_lazy("Status"),
    ("import.finish", "status"): gettext_lazy("Status"),
    ("import.undo", "deleted"): gettext_lazy("Records deleted"),
    ("import.check_report", "kind"): gettext_lazy("Kind of sheet"),
    ("customer.import", "kind"): gettext_lazy("Kind of sheet"),
    ("order.import", "kind"): gettext_lazy("Kind of sheet"),
    ("product.import", "kind"): gettext_lazy("Kind of sheet"),
    ("review.import", "kind"): gettext_lazy("Kind of sheet"),
    ("ticket.transition", "from"): gettext_lazy("Status before"),
    ("ticket.transition", "to"): gettext_lazy("Status after"),
    ("ticket.reopen", "from"): gettext_lazy("Status before"),
    ("ticket.reopen", "to"): gettext_lazy("Status after"),
    ("customer.assign", "from"): gettext_lazy("Owner before"),
    ("customer.assign", "to"): gettext_lazy("Owner after"),
    ("customer.stage", "from"): gettext_lazy("Stage before"),
    ("customer.stage", "to"): gettext_lazy("Stage after"),
    ("feedback.import_update", "fields"): gettext_lazy("Fields changed"),
    ("survey.question_add", "kind"): gettext_lazy("Question type"),
    ("ticket.aftersale_link", "kind"): gettext_lazy("After-sale type"),
    ("aftersale.request", "kind"): gettext_lazy("After-sale type"),
}

# What a customer's timeline event was, where the action alone does not say it (a claim, a release or
# a transfer are all ``customer.assign``). The others (created, updated …) repeat the action: unsaid.
_CUSTOMER_EVENTS: dict[str, Any] = {
    "customer.claimed": gettext_lazy("Claimed from the shared pool"),
    "customer.released": gettext_lazy("Released to the shared pool"),
    "customer.transferred": gettext_lazy("Handed to a colleague"),
    "customer.import_undone": gettext_lazy("An import undone"),
}

_MONEY_KEYS = {"amount", "total"}
# The entries whose "kind" is the kind of sheet imported.
_IMPORT_ACTIONS = {
    "customer.import",
    "order.import",
    "product.import",
    "review.import",
    "import.check_report",
}


def _import_kind(value: Any) -> str:
    from kebu.transfer.forms import KIND_LABELS

    return str(KIND_LABELS.get(value, value))


def _role_names(value: Any) -> str:
    """Roles (groups, by their stored names) as they read in the reader's language."""
    from kebu.accounts.roles import role_name

    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return plain(value)
    return plain([role_name(name) for name in value])


def _owner(value: Any) -> str:
    return str(value["name"]) if isinstance(value, dict) and "name" in value else str(_("Shared pool"))


# How a value reads, by action (the most particular first) and key.
_ACTION_VALUES: dict[tuple[str, str], Callable[[Any], str]] = {
    ("auth.role_change", "added"): _role_names,
    ("auth.role_change", "removed"): _role_names,
    ("customer.assign", "from"): _owner,
    ("customer.assign", "to"): _owner,
    ("customer.stage", "from"): _enum("customers.Stage"),
    ("customer.stage", "to"): _enum("customers.Stage"),
    ("ticket.transition", "from"): _enum("engagement.TicketStatus"),
    ("ticket.transition", "to"): _enum("engagement.TicketStatus"),
    ("ticket.reopen", "from"): _enum("engagement.TicketStatus"),
    ("ticket.reopen", "to"): _enum("engagement.TicketStatus"),
    ("ticket.transition", "result"): _enum("engagement.TicketResult"),
    ("ticket.open", "category"): _enum("engagement.TicketCategory"),
    ("contact.create", "channel"): _enum("engagement.ContactChannel"),
    ("contact.create", "direction"): _enum("engagement.Direction"),
    ("survey.question_add", "kind"): _enum("engagement.QuestionKind"),
    ("survey.question_move", "direction"): _direction,
    ("aftersale.request", "kind"): _enum("orders.AfterSaleKind"),
    ("ticket.aftersale_link", "kind"): _enum("orders.AfterSaleKind"),
    ("order.create", "status"): _enum("orders.OrderStatus"),
    ("import.finish", "status"): _enum("core.JobStatus"),
    ("order.update", "fields"): _field_names("orders.order"),
    ("aftersale.replacement", "fields"): _field_names("orders.aftersale", prefix="replacement_"),
    ("aftersale.complete", "replacement"): _field_names("orders.aftersale", prefix="replacement_"),
    ("catalogue.change", "fields"): _field_names("orders.sku", "orders.product"),
    ("feedback.import_update", "fields"): _field_names("engagement.feedback"),
}
_VALUES: dict[str, Callable[[Any], str]] = {
    "bytes": _size,
    "mode": _enum("transfer.ImportMode"),
    "method": _enum("orders.PaymentMethod"),
    "platform": _enum("orders.Platform"),
    "format": _file_format,
    "language": _language,
    "attachments": _attachments,
}


def _detail_value(action: str, key: str, value: Any, reader: Reader) -> str:
    if key == "filters":
        return reader.export_filters(action, value)
    if key == "columns" and action in _EXPORT_KINDS:
        return reader.export_columns(_EXPORT_KINDS[action], value)
    if key == "kind" and action in _IMPORT_ACTIONS:
        return _import_kind(value)
    if key == "kind" and action.startswith("customer."):
        return str(_CUSTOMER_EVENTS.get(value, value)) if isinstance(value, str) else plain(value)
    if action == "customer.reveal" and key == "field":
        from kebu.customers.privacy import REVEALABLE_LABELS

        return str(REVEALABLE_LABELS.get(value, value))
    read = _ACTION_VALUES.get((action, key)) or _VALUES.get(key)
    if read is not None:
        return read(value)
    if key in _MONEY_KEYS:
        return money(value)
    return plain(value)


# Flags that say something only when set: an export not narrowed by a search says so on no line.
_SAID_WHEN_SET = frozenset({"searched"})


def _shown(action: str, key: str, value: Any) -> bool:
    if value in ([], {}, None, "") or (key in _SAID_WHEN_SET and value is False):
        return False
    # A customer event's kind, where the action says it already (customer.update: "customer.updated").
    if key == "kind" and action.startswith("customer.") and action not in _IMPORT_ACTIONS:
        return isinstance(value, str) and value in _CUSTOMER_EVENTS
    return True


def details(entry: Any, reader: Reader | None = None) -> list[tuple[str, str]]:
    """``(label, value)`` for each item of an entry's data, in words. Reading several entries, pass
    one ``Reader`` made for all of them (see ``Reader``)."""
    reader = reader if reader is not None else Reader([entry])
    action = entry.action
    out = []
    for key, value in (entry.data or {}).items():
        if not _shown(action, key, value):
            continue
        label = _ACTION_LABELS.get((action, key)) or DETAIL_LABELS.get(key)
        if label is None and key == "kind":
            label = gettext_lazy("Type")
        out.append((str(label) if label is not None else key, _detail_value(action, key, value, reader)))
    return out


# --- changes ---------------------------------------------------------------------------------------------


def _field(target_type: str, name: str) -> models.Field[Any, Any] | None:
    model = _model(target_type)
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) else None


# Fields whose model gives them no name a merchant knows.
_CHANGE_LABELS: dict[str, Any] = {"path": gettext_lazy("Category path")}
# Fields whose values are read by more than their field: a staff member's roles, by their stored names.
_CHANGE_VALUES: dict[tuple[str, str], Callable[[Any], str]] = {("accounts.user", "groups"): _role_names}


def change_label(target_type: str, name: str) -> str:
    if name in _CHANGE_LABELS:
        return str(_CHANGE_LABELS[name])
    return str(capfirst(_model_field_label([target_type], name)))


def change_value(target_type: str, name: str, value: Any) -> str:
    """One side of a change as the field shows it: a choice by its name, an amount in yuan."""
    if value is None or value == "":
        return "—"
    if (target_type, name) in _CHANGE_VALUES:
        return _CHANGE_VALUES[target_type, name](value)
    field = _field(target_type, name)
    if field is not None and field.choices and not isinstance(value, list | dict | bool):
        return str(dict((str(k), v) for k, v in field.flatchoices).get(str(value), value))
    if isinstance(field, models.DecimalField) or name.endswith("_cny"):
        return money(value)
    return plain(value)


def changes(entry: Any) -> list[tuple[str, str, str]]:
    """``(field label, before, after)`` for each change of an entry; a change not shaped
    ``[before, after]`` has no before."""
    if not isinstance(entry.changes, Mapping):
        return []
    out = []
    for name, pair in entry.changes.items():
        label = change_label(entry.target_type, str(name))
        if isinstance(pair, list) and len(pair) == 2:
            before = change_value(entry.target_type, str(name), pair[0])
            after = change_value(entry.target_type, str(name), pair[1])
            out.append((label, before, after))
        else:
            out.append((label, "", change_value(entry.target_type, str(name), pair)))
    return out


# --- a page of entries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryText:
    """An entry with its changes and details in words, as the page lists it and the export writes it."""

    entry: Any
    changes: list[tuple[str, str, str]]
    details: list[tuple[str, str]]


def entries_text(entries: Iterable[Any]) -> list[EntryText]:
    """Each of ``entries`` in words, read together (a fixed number of queries, however many)."""
    entries = list(entries)
    reader = Reader(entries)
    return [EntryText(entry, changes(entry), details(entry, reader)) for entry in entries]
