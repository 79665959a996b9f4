"""HTML forms for orders, after-sales, credit and the catalogue: shape only.

Amounts and quantities are taken as text: the services parse them (``money_parse``) and say what is
wrong in the shop's words, and their dotted field errors (``lines.0.quantity``) are put back on the row
the person typed them in."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from kebu.core import divisions
from kebu.core.errors import KebuError, NotFound
from kebu.core.forms import DATE_VALIDATORS, KebuForm, moment_in_range
from kebu.core.templatetags.kebu import phone_display
from kebu.customers import selectors as customer_selectors
from kebu.customers.access import ShellOperator
from kebu.customers.models import Address, Customer
from kebu.orders.models import (
    COUNTED_STATUSES,
    AfterSale,
    AfterSaleKind,
    AfterSaleReason,
    AfterSaleStatus,
    Category,
    DeliveryMethod,
    Order,
    OrderStatus,
    PaymentMethod,
    Platform,
    Product,
    Sku,
    Store,
)
from kebu.orders.selectors import COUNTED, POOL
from kebu.orders.services.aftersales import (
    NOT_SHIPPED_MESSAGE,
    REPLACEMENT_FIELDS,
    AfterSaleLineInput,
    ReplacementInput,
    aftersale_kinds_for,
    line_refund_bases,
)
from kebu.orders.services.credit import REPAYMENT_METHODS
from kebu.orders.services.orders import LineInput, OrderInput, skus_load
from kebu.orders.services.products import ProductInput, SkuInput
from kebu.orders.services.stores import store_closed_message

# The carriers most Chinese shops ship with, offered in a datalist: any other name may be typed.
CARRIERS = (
    "顺丰速运",
    "中通快递",
    "圆通速递",
    "申通快递",
    "韵达快递",
    "极兔速递",
    "邮政EMS",
    "京东物流",
    "德邦快递",
)
MAX_ORDER_LINES = 100
MAX_SKUS = 50
# An order typed in as paid says how: the merchant knows, unlike a marketplace export that leaves it
# out (imports and the API take an order without it, as the service does).
PAYMENT_METHOD_MISSING = _("Choose how the order was paid.")


def _money_input(label: Any, *, placeholder: str = "0.00", required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=20,
        required=required,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": placeholder}
        ),
    )


def _paid_now_input() -> forms.CharField:
    """On credit, what the customer paid there and then; the rest goes on their account (挂账)."""
    field = _money_input(_("Paid now (the rest on credit)"), placeholder="")
    field.help_text = _("On credit: what the customer paid at the time. Empty: all of it on credit.")
    return field


def _local_input_value(moment: Any) -> str:
    """A time as a ``datetime-local`` input shows it, in the shop's time zone, to the minute."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value: Any) -> Any:
        if hasattr(value, "tzinfo"):
            return _local_input_value(value)
        return value


def service_errors_apply(form: forms.Form, error: KebuError, *, rename: dict[str, str] | None = None) -> None:
    """Put a service's field errors on ``form``: known fields by name, anything else on the form."""
    rename = rename or {}
    for key, messages in error.as_dict().items():
        name = rename.get(key, key)
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, message)


def _same_amount(text: str, amount: Decimal) -> bool:
    try:
        return Decimal(text.replace(",", "").lstrip("¥￥")) == amount
    except InvalidOperation:
        return False


def _row_filled(form: forms.Form, keys: Iterable[str]) -> bool:
    data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    return any(str(data.get(key) or "").strip() for key in keys)


# --- the order list's filters ------------------------------------------------------------------------------


class OrderFilterForm(KebuForm):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    # One customer's orders (the customer page links here); the selector applies visibility first.
    customer = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("All statuses")), (COUNTED, _("Counted as sales")), *OrderStatus.choices],
        required=False,
    )
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.all(), required=False, empty_label=_("All stores")
    )
    platform = forms.ChoiceField(label=_("Platform"), required=False)
    # The customer's owner: a colleague's id, or POOL for the shared pool's customers.
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    # Read together on the page: "Ordered from [date] until [date]".
    date_from = forms.DateField(
        label=_("Ordered from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_VALIDATORS,
    )
    date_to = forms.DateField(
        label=_("until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_VALIDATORS,
    )
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[
            ("-time", _("Newest first")),
            ("time", _("Oldest first")),
            ("-amount", _("Largest amount first")),
            ("amount", _("Smallest amount first")),
        ],
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        """``user``: who filters, for the owners offered (``owner_filter_choices``: a former colleague
        only where ``user`` sees their customers); without one (the shell), every owner."""
        super().__init__(*args, **kwargs)
        used = set(Store.objects.values_list("platform", flat=True))
        self.fields["platform"].choices = [
            ("", _("All platforms")),
            *((value, label) for value, label in Platform.choices if value in used),
        ]
        self.fields["owner"].choices = [
            ("", _("All owners")),
            (POOL, _("No owner")),
            *customer_selectors.owner_filter_choices(user=user or ShellOperator()),
        ]


# --- a new order --------------------------------------------------------------------------------------------


class OrderLineForm(KebuForm):
    sku_code = forms.CharField(
        label=_("SKU code"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "list": "sku-options", "data-sku-input": ""}),
    )
    title = forms.CharField(label=_("Item"), max_length=200, required=False)
    quantity = forms.CharField(
        label=_("Quantity"),
        max_length=12,
        required=False,
        initial="1",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "data-line-qty": ""}),
    )
    unit_price_cny = _money_input(_("Unit price"), placeholder="")
    discount_cny = _money_input(_("Line discount"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit_price_cny"].widget.attrs["data-line-price"] = ""
        self.fields["discount_cny"].widget.attrs["data-line-discount"] = ""

    FILLED = ("sku_code", "title", "unit_price_cny")

    def sku_show(self, sku: Sku) -> None:
        """Show the row's SKU as picking it from the list did (orders.js ``skuChosen``): its product's
        name where the title is left empty, its price where the unit price is, and a price equal to
        the SKU's still taken as the SKU's, so that picking another SKU replaces it."""
        self.fields["title"].widget.attrs["placeholder"] = sku.product.name
        price = self.fields["unit_price_cny"].widget.attrs
        price["placeholder"] = f"{sku.price_cny:.2f}"
        typed = str(self["unit_price_cny"].value() or "").strip()
        if typed and _same_amount(typed, sku.price_cny):
            price["data-auto"] = "1"


OrderLineFormSet = forms.formset_factory(
    OrderLineForm,
    extra=0,
    min_num=1,
    max_num=MAX_ORDER_LINES,
    absolute_max=MAX_ORDER_LINES,
    validate_max=True,
)


class ActiveStoreField(forms.ModelChoiceField):
    """The active stores; one deactivated since the page was shown is refused by its name, saying why
    (``store_closed_message``), not as a choice that does not exist."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except forms.ValidationError:
            # Compared as text: the value is whatever was posted, and a shop has a few inactive stores.
            closed = next((s for s in Store.objects.filter(is_active=False) if str(s.pk) == str(value)), None)
            if closed is None:
                raise
            raise forms.ValidationError(store_closed_message(closed), code="invalid_choice") from None


class OrderForm(KebuForm):
    customer_no = forms.CharField(
        label=_("Customer number"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "list": "customer-options"}),
    )
    store = ActiveStoreField(
        label=_("Store"), queryset=Store.objects.filter(is_active=True), empty_label=None
    )
    order_no = forms.CharField(
        label=_("Order number"),
        max_length=64,
        required=False,
        help_text=_("The marketplace's order id; leave empty and Kebu numbers the order."),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            (OrderStatus.PENDING, OrderStatus.PENDING.label),
            (OrderStatus.PAID, OrderStatus.PAID.label),
        ],
    )
    ordered_at = forms.DateTimeField(
        label=_("Order time"), widget=DateTimeLocalInput(), validators=[moment_in_range]
    )
    shipping_cny = _money_input(_("Shipping fee"))
    discount_cny = _money_input(_("Order discount"))
    coupon_code = forms.CharField(label=_("Coupon"), max_length=40, required=False)
    coupon_cny = _money_input(_("Coupon amount"))
    payment_method = forms.ChoiceField(
        label=_("Payment method"),
        choices=[("", "—"), *PaymentMethod.choices],
        required=False,
        widget=forms.Select(attrs={"data-payment-method": ""}),
    )
    paid_now_cny = _paid_now_input()
    delivery_method = forms.ChoiceField(label=_("Delivery method"), choices=DeliveryMethod.choices)
    receiver_name = forms.CharField(label=_("Receiver"), max_length=50, required=False)
    receiver_phone = forms.CharField(
        label=_("Receiver phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    ship_province = forms.ChoiceField(label=_("Province"), required=False)
    ship_city = forms.CharField(label=_("City"), max_length=30, required=False)
    ship_district = forms.CharField(label=_("District"), max_length=30, required=False)
    ship_address = forms.CharField(label=_("Street address"), max_length=200, required=False)
    buyer_message = forms.CharField(
        label=_("Buyer message"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    seller_notes = forms.CharField(
        label=_("Seller notes"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    allow_over_credit_limit = forms.BooleanField(
        label=_("Take it on credit anyway, beyond the limit"), required=False
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=80)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["ship_province"].choices = [("", "—"), *[(p, p) for p in divisions.provinces()]]
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
            self.initial.setdefault("ordered_at", _local_input_value(timezone.now()))
            self.initial.setdefault("status", OrderStatus.PAID)
            store = Store.objects.filter(is_active=True).first()
            if store is not None:
                self.initial.setdefault("store", store.pk)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("status") in COUNTED_STATUSES and not cleaned.get("payment_method"):
            self.add_error("payment_method", PAYMENT_METHOD_MISSING)
        return cleaned

    def clean_customer_no(self) -> Customer:
        number = self.cleaned_data.get("customer_no", "").strip().upper()
        try:
            return customer_selectors.customer_by_number_for_actor(actor=self.user, customer_no=number)
        except NotFound:
            # The same answer for a number that does not exist and one this user may not see.
            raise forms.ValidationError(_("No customer has the number %(no)s.") % {"no": number}) from None

    def city_choices(self) -> list[str]:
        return divisions.cities(self["ship_province"].value() or "")

    def district_choices(self) -> list[str]:
        return divisions.districts(self["ship_province"].value() or "", self["ship_city"].value() or "")

    def customer(self) -> Customer | None:
        """The customer as chosen, when the number is valid (for the page's summary)."""
        if self.is_bound and hasattr(self, "cleaned_data"):
            value = self.cleaned_data.get("customer_no")
            return value if isinstance(value, Customer) else None
        return None


def ship_to_initial(*, customer: Customer, address: Address | None, contacts_shown: bool) -> dict[str, str]:
    """The new order's "Ship to" fields filled in from ``customer``'s default ``address`` when it is a
    region alone (no street): its region and receiver, for the merchant to add the street, where typing
    the street alone would have left the order without the region (the order takes the default address
    only when every address field is left empty). A whole default address fills in nothing: left empty,
    the order takes it. The receiver's phone only for someone who sees it in full (``contacts_shown``):
    for anyone else nothing is filled in, and the order left empty takes the region and phone as before."""
    if address is None or address.detail or not contacts_shown:
        return {}
    return {
        "receiver_name": address.receiver or customer.name,
        "receiver_phone": phone_display(address.receiver_phone),
        "ship_province": address.province,
        "ship_city": address.city,
        "ship_district": address.district,
    }


class OrderFormBundle:
    """The order form and its line rows, turned into one ``OrderInput``."""

    ORDER_FIELDS = (
        "order_no",
        "status",
        "ordered_at",
        "shipping_cny",
        "discount_cny",
        "coupon_code",
        "coupon_cny",
        "payment_method",
        "paid_now_cny",
        "delivery_method",
        "receiver_name",
        "receiver_phone",
        "ship_province",
        "ship_city",
        "ship_district",
        "ship_address",
        "buyer_message",
        "seller_notes",
    )

    def __init__(self, data: Any = None, *, user: Any, initial: dict[str, Any] | None = None) -> None:
        self.form = OrderForm(data, user=user, initial=initial)
        self.lines = OrderLineFormSet(data, prefix="lines")
        self.credit_warning = False

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        lines_ok = self.lines.is_valid()
        return form_ok and lines_ok

    @cached_property
    def line_forms(self) -> list[OrderLineForm]:
        """The line rows as the page shows them. Shown again after a refusal, a row whose code names a
        SKU shows that SKU's name and price as when it was picked: only the code and what was typed
        come back in the POST, and the merchant should not lose sight of what they chose."""
        rows: list[OrderLineForm] = list(self.lines.forms)
        if self.lines.is_bound:
            codes = [str(row["sku_code"].value() or "").strip() for row in rows]
            skus = skus_load(codes)
            for row, code in zip(rows, codes, strict=True):
                if code in skus:
                    row.sku_show(skus[code])
        return rows

    def filled_rows(self) -> list[int]:
        """Indexes of the line rows with something in them; an empty or removed row is skipped."""
        return [i for i, f in enumerate(self.lines.forms) if _row_filled(f, OrderLineForm.FILLED)]

    def to_input(self) -> OrderInput:
        cd = self.form.cleaned_data
        lines = [self.lines.forms[i].cleaned_data for i in self.filled_rows()]
        fields = {name: cd[name] for name in self.ORDER_FIELDS}
        fields["order_no"] = fields["order_no"] or ""
        fields["shipping_cny"] = fields["shipping_cny"] or "0"
        fields["discount_cny"] = fields["discount_cny"] or "0"
        fields["coupon_cny"] = fields["coupon_cny"] or "0"
        fields["paid_now_cny"] = fields["paid_now_cny"] or None
        return OrderInput(
            customer=cd["customer_no"],
            store=cd["store"],
            lines=[
                LineInput(
                    sku_code=line["sku_code"],
                    title=line["title"],
                    quantity=line["quantity"] or "1",
                    unit_price_cny=line["unit_price_cny"] or None,
                    discount_cny=line["discount_cny"] or "0",
                )
                for line in lines
            ],
            **fields,
        )

    def add_service_errors(self, error: KebuError) -> None:
        """The service's ``lines.<n>.<field>`` errors go on the n-th filled row, the rest on the form."""
        rows = self.filled_rows()
        for key, messages in error.as_dict().items():
            head, _sep, rest = key.partition(".")
            if head == "lines" and rest:
                index, _sep, field = rest.partition(".")
                form = (
                    self.lines.forms[rows[int(index)]] if index.isdigit() and int(index) < len(rows) else None
                )
                if form is not None:
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
                    continue
            if head == "lines":
                self.lines.non_form_errors().extend(messages)
                continue
            target = {"customer": "customer_no", "paid_cny": None, "paid_at": None}.get(key, key)
            target = target if target in self.form.fields else None
            for message in messages:
                self.form.add_error(target, message)


# --- actions on an order ---------------------------------------------------------------------------------


class VersionForm(KebuForm):
    """What every action on an order carries: the version of the order as the page showed it."""

    # Without an id: an order's page has several of these forms, and no label points at a hidden field.
    version = forms.IntegerField(widget=forms.HiddenInput(attrs={"id": False}), min_value=1)


class PayForm(VersionForm):
    # Nothing chosen beforehand (but the method the order was taken with): a payment recorded by a click
    # that never looked at the list would say WeChat Pay, whatever the customer paid with.
    payment_method = forms.ChoiceField(
        label=_("Payment method"),
        choices=[("", "—"), *PaymentMethod.choices],
        error_messages={"required": PAYMENT_METHOD_MISSING},
        widget=forms.Select(attrs={"data-payment-method": ""}),
    )
    paid_cny = _money_input(_("Amount paid"), placeholder="")
    paid_now_cny = _paid_now_input()
    paid_at = forms.DateTimeField(
        label=_("Paid at"), required=False, widget=DateTimeLocalInput(), validators=[moment_in_range]
    )
    allow_over_credit_limit = forms.BooleanField(
        label=_("Take it on credit anyway, beyond the limit"), required=False
    )

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial = {"payment_method": order.payment_method, **self.initial}
        self.fields["paid_cny"].widget.attrs["placeholder"] = str(order.total_cny)
        self.fields["paid_cny"].help_text = _("Empty: the amount due.")
        self.fields["paid_at"].help_text = _("Empty: now.")


def shipment_fields(carriers: str) -> tuple[forms.CharField, forms.CharField]:
    """The carrier (suggested from the page's datalist ``carriers``) and the tracking number, as the ship
    step and the order's details both take them."""
    carrier = forms.CharField(
        label=_("Carrier"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"list": carriers, "autocomplete": "off"}),
    )
    tracking_no = forms.CharField(
        label=_("Tracking number"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    return carrier, tracking_no


class ShipForm(VersionForm):
    carrier, tracking_no = shipment_fields("carriers")


class CancelForm(VersionForm):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class OrderDetailsForm(VersionForm):
    """An order's details (``ORDER_DETAIL_FIELDS``), pre-filled; only the ``fields`` this person may
    change are on it (``order_detail_fields_for``), so a masked value is never shown nor sent back. The
    payment method is offered for a paid order not on credit, without credit (which would change what
    the customer owes). The province is checked by the service, which names it for the API alike."""

    carrier, tracking_no = shipment_fields("details-carriers")
    payment_method = forms.ChoiceField(label=_("Payment method"), required=False)
    # Not required: a POST without it (a page from before it was offered) keeps the order's.
    delivery_method = forms.ChoiceField(
        label=_("Delivery method"), choices=DeliveryMethod.choices, required=False
    )
    receiver_name = forms.CharField(label=_("Receiver"), max_length=50, required=False)
    receiver_phone = forms.CharField(
        label=_("Receiver phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    ship_province = forms.CharField(label=_("Province"), max_length=30, required=False)
    ship_city = forms.CharField(label=_("City"), max_length=30, required=False)
    ship_district = forms.CharField(label=_("District"), max_length=30, required=False)
    ship_address = forms.CharField(label=_("Street address"), max_length=200, required=False)
    buyer_message = forms.CharField(
        label=_("Buyer message"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    seller_notes = forms.CharField(
        label=_("Seller notes"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, order: Order, fields: Sequence[str], **kwargs: Any) -> None:
        initial = {"version": order.version, **{name: getattr(order, name) for name in fields}}
        if "receiver_phone" in initial:  # as people read it (138 0013 8000); sent back, it is the same number
            initial["receiver_phone"] = phone_display(order.receiver_phone)
        # Its own ids: the order page also has the ship form's carrier and tracking number and the pay
        # form's payment method, whose labels would otherwise point at this form's fields.
        kwargs.setdefault("auto_id", "details_%s")
        super().__init__(*args, initial={**initial, **kwargs.pop("initial", {})}, **kwargs)
        self.order = order
        offered = set(fields)
        if order.status not in COUNTED_STATUSES or order.payment_method == PaymentMethod.CREDIT:
            offered.discard("payment_method")
        for name in [n for n in self.fields if n != "version" and n not in offered]:
            del self.fields[name]
        if "payment_method" in self.fields:
            methods = [(v, label) for v, label in PaymentMethod.choices if v != PaymentMethod.CREDIT]
            # An order paid before any method was recorded keeps none until one is chosen.
            blank = [("", "—")] if not order.payment_method else []
            self.fields["payment_method"].choices = [*blank, *methods]

    def clean_delivery_method(self) -> str:
        return self.cleaned_data.get("delivery_method") or self.order.delivery_method

    @property
    def offers_contact(self) -> bool:
        return "ship_address" in self.fields

    def division_pickers(self) -> list[tuple[forms.BoundField, str, list[str]]]:
        """(field, level, names offered) for the province, city and district pickers, each level's
        names those under the level before it (as the address book's pickers; kebu.js reloads them)."""
        province, city, district = (self[name] for name in ("ship_province", "ship_city", "ship_district"))
        chosen = [str(f.value() or "") for f in (province, city, district)]
        names = [
            divisions.provinces(),
            divisions.cities(chosen[0]),
            divisions.districts(chosen[0], chosen[1]),
        ]
        # An order's own place the list does not name (an old import's) stays on offer, so saving the
        # form unchanged never clears it.
        offered = [
            [value, *listed] if value and value not in listed else listed
            for value, listed in zip(chosen, names, strict=True)
        ]
        return list(zip((province, city, district), ("province", "city", "district"), offered, strict=True))


# --- after-sales ------------------------------------------------------------------------------------------


class AfterSaleForm(KebuForm):
    kind = forms.ChoiceField(label=_("Type"), choices=AfterSaleKind.choices)
    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "—"), *AfterSaleReason.choices])
    reason_detail = forms.CharField(
        label=_("Details"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    amount_cny = _money_input(_("Refund amount"), placeholder="")

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        self.order_lines = list(order.lines.all())
        # Only the kinds the order may have: before it is shipped, refund only. One sent from a page that
        # offered more (the order changed since, a ticket's prefill) is told why.
        kinds = aftersale_kinds_for(order)
        kind = self.fields["kind"]
        kind.choices = [(value, label) for value, label in AfterSaleKind.choices if value in kinds]
        if len(kinds) < len(AfterSaleKind.values):
            kind.help_text = NOT_SHIPPED_MESSAGE
            kind.error_messages["invalid_choice"] = NOT_SHIPPED_MESSAGE
        self.fields["amount_cny"].help_text = _("Empty: the lines' share of what was paid.")
        self.fields["amount_cny"].widget.attrs["data-aftersale-amount"] = ""
        # An exchange refunds nothing: the preview says so, and sends no refund (``static/kebu/orders.js``).
        self.fields["kind"].widget.attrs["data-aftersale-kind"] = ""
        # What the preview works a line's refund out from, as the service does (``line_refund_bases``).
        bases = line_refund_bases(order)
        for line in self.order_lines:
            basis = bases[line.pk]
            self.fields[f"line_{line.pk}_quantity"] = forms.IntegerField(
                label=_("Quantity"),
                min_value=0,
                max_value=line.quantity,
                required=False,
                widget=forms.NumberInput(
                    attrs={
                        "class": "form-control form-control-sm aftersale-qty",
                        "min": 0,
                        "max": line.quantity,
                        "data-aftersale-qty": "",
                        "data-line-quantity": line.quantity,
                        "data-line-paid": f"{basis.paid_cny:.2f}",
                        "data-line-priced": basis.priced,
                        "data-line-left": f"{basis.left_cny:.2f}",
                    }
                ),
            )
            amount = self.fields[f"line_{line.pk}_amount"] = _money_input(_("Refund"), placeholder="")
            amount.widget.attrs.update({"class": "form-control form-control-sm", "data-aftersale-refund": ""})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "kind" in self.errors:
            self["kind"].help_text = ""  # the error says the same (a bound field copies its help)
        for line in self.order_lines:
            quantity = f"line_{line.pk}_quantity"
            # A line is chosen by its quantity: a refund typed beside none would be dropped unseen.
            if (
                cleaned.get(f"line_{line.pk}_amount")
                and not cleaned.get(quantity)
                and quantity not in self.errors
            ):
                self.add_error(quantity, _("Enter how many of this line the refund is for."))
        return cleaned

    @property
    def is_exchange(self) -> bool:
        return self["kind"].value() == AfterSaleKind.EXCHANGE

    def line_rows(self) -> list[tuple[Any, forms.BoundField, forms.BoundField]]:
        return [
            (line, self[f"line_{line.pk}_quantity"], self[f"line_{line.pk}_amount"])
            for line in self.order_lines
        ]

    def chosen_lines(self) -> list[AfterSaleLineInput]:
        cd = self.cleaned_data
        return [
            AfterSaleLineInput(
                line_id=line.pk,
                quantity=cd[f"line_{line.pk}_quantity"],
                amount_cny=cd[f"line_{line.pk}_amount"] or None,
            )
            for line in self.order_lines
            if cd.get(f"line_{line.pk}_quantity")
        ]

    def add_service_errors(self, error: KebuError, chosen: Sequence[AfterSaleLineInput]) -> None:
        for key, messages in error.as_dict().items():
            head, _sep, rest = key.partition(".")
            target: str | None = key if key in self.fields else None
            if head == "lines" and rest:
                index, _sep, field = rest.partition(".")
                if index.isdigit() and int(index) < len(chosen):
                    line_id = chosen[int(index)].line_id
                    name = f"line_{line_id}_{'amount' if field == 'amount_cny' else 'quantity'}"
                    target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message)


class AfterSaleActionForm(VersionForm):
    resolution_note = forms.CharField(label=_("Reason"), max_length=500, required=False)
    return_tracking_no = forms.CharField(label=_("Return tracking number"), max_length=40, required=False)
    # What an exchange sent back, noted as it completes (``aftersales.ReplacementInput``).
    replacement_sku_code = forms.CharField(label=_("Replacement SKU"), max_length=64, required=False)
    replacement_item = forms.CharField(label=_("Replacement item"), max_length=200, required=False)
    replacement_carrier = forms.CharField(label=_("Carrier"), max_length=30, required=False)
    replacement_tracking_no = forms.CharField(label=_("Tracking number"), max_length=40, required=False)

    def replacement(self) -> ReplacementInput:
        cd = self.cleaned_data
        return ReplacementInput(
            sku_code=cd["replacement_sku_code"],
            item=cd["replacement_item"],
            carrier=cd["replacement_carrier"],
            tracking_no=cd["replacement_tracking_no"],
        )

    def replacement_changes(self) -> dict[str, str]:
        """The replacement as the correction form sends it back, whole (``aftersale_replacement_update``):
        a box emptied is a field cleared."""
        return {name: self.cleaned_data[f"replacement_{name}"] for name in REPLACEMENT_FIELDS}

    @staticmethod
    def initial_for(aftersale: AfterSale) -> dict[str, Any]:
        """What the after-sale's forms start from: its version, and for a completed exchange what it sent,
        for the correction form to show."""
        initial: dict[str, Any] = {"version": aftersale.version}
        if aftersale.kind == AfterSaleKind.EXCHANGE and aftersale.status == AfterSaleStatus.COMPLETED:
            sku = aftersale.replacement_sku
            initial |= {
                "replacement_sku_code": sku.code if sku else "",
                "replacement_item": aftersale.replacement_item,
                "replacement_carrier": aftersale.replacement_carrier,
                "replacement_tracking_no": aftersale.replacement_tracking_no,
            }
        return initial


class AfterSaleFilterForm(KebuForm):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Open")), ("all", _("All")), *AfterSaleStatus.choices],
    )
    kind = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("All types")), *AfterSaleKind.choices]
    )


# --- credit -------------------------------------------------------------------------------------------------


class CreditPaymentForm(KebuForm):
    amount_cny = _money_input(_("Amount received"), placeholder="", required=True)
    method = forms.ChoiceField(
        label=_("Payment method"),
        choices=[(method.value, method.label) for method in REPAYMENT_METHODS],
    )
    received_at = forms.DateTimeField(
        label=_("Received at"), required=False, widget=DateTimeLocalInput(), validators=[moment_in_range]
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["received_at"].help_text = _("Empty: now.")


class CreditTermsForm(KebuForm):
    credit_limit_cny = _money_input(_("Credit limit"), placeholder="")
    payment_terms_days = forms.IntegerField(label=_("Payment terms (days)"), min_value=0, max_value=365)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["credit_limit_cny"].help_text = _("Empty: no credit for this customer.")


# --- the catalogue ----------------------------------------------------------------------------------------


class ProductFilterForm(KebuForm):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False, empty_label=_("All categories")
    )
    active = forms.ChoiceField(
        label=_("On sale"),
        required=False,
        choices=[("", _("On sale and off sale")), ("yes", _("On sale")), ("no", _("Off sale"))],
    )


class ProductForm(KebuForm):
    name = forms.CharField(label=_("Product name"), max_length=100)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False, empty_label="—"
    )
    brand_name = forms.CharField(label=_("Brand"), max_length=50, required=False)
    usage_cycle_days = forms.IntegerField(
        label=_("Usage cycle (days)"),
        required=False,
        help_text=_("How long one unit lasts a customer; repurchase reminders are based on it."),
    )
    description = forms.CharField(
        label=_("Description"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(label=_("On sale"), required=False, initial=True)
    # The version the edit page was read at (the customer form's way); none on a new product.
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SkuForm(KebuForm):
    code = forms.CharField(label=_("SKU code"), max_length=64, required=False)
    price_cny = _money_input(_("Price"), placeholder="")
    cost_cny = _money_input(_("Cost"), placeholder="")
    color = forms.CharField(label=_("Colour"), max_length=30, required=False)
    size = forms.CharField(label=_("Size"), max_length=30, required=False)
    spec = forms.CharField(label=_("Specification"), max_length=60, required=False)
    is_active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    FILLED = ("code", "price_cny")


SkuFormSet = forms.formset_factory(
    SkuForm, extra=0, min_num=1, max_num=MAX_SKUS, absolute_max=MAX_SKUS, validate_max=True
)


class ProductFormBundle:
    def __init__(self, data: Any = None, *, product: Product | None = None) -> None:
        initial: dict[str, Any] | None = None
        sku_initial: list[dict[str, Any]] | None = None
        if product is not None:
            initial = {
                "name": product.name,
                "category": product.category_id,
                "brand_name": product.brand.name if product.brand else "",
                "usage_cycle_days": product.usage_cycle_days,
                "description": product.description,
                "is_active": product.is_active,
                "version": product.version,
            }
            sku_initial = [
                {
                    "code": s.code,
                    "price_cny": s.price_cny,
                    "cost_cny": "" if s.cost_cny is None else s.cost_cny,
                    "color": s.color,
                    "size": s.size,
                    "spec": s.spec,
                    "is_active": s.is_active,
                }
                for s in product.skus.all()
            ]
        self.form = ProductForm(data, initial=initial)
        self.skus = SkuFormSet(data, prefix="skus", initial=sku_initial)
        # The product as someone else saved it meanwhile, when a save from this form was refused for it.
        self.saved_now: Product | None = None

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        skus_ok = self.skus.is_valid()
        return form_ok and skus_ok

    def filled_rows(self) -> list[int]:
        return [i for i, f in enumerate(self.skus.forms) if _row_filled(f, SkuForm.FILLED)]

    def to_input(self) -> ProductInput:
        cd = self.form.cleaned_data
        return ProductInput(
            name=cd["name"],
            category=cd["category"],
            brand_name=cd["brand_name"],
            usage_cycle_days=cd["usage_cycle_days"],
            description=cd["description"],
            is_active=cd["is_active"],
            skus=[
                SkuInput(
                    code=row["code"],
                    price_cny=row["price_cny"],
                    cost_cny=row["cost_cny"] or None,
                    color=row["color"],
                    size=row["size"],
                    spec=row["spec"],
                    is_active=row["is_active"],
                )
                for row in (self.skus.forms[i].cleaned_data for i in self.filled_rows())
            ],
        )

    def add_service_errors(self, error: KebuError) -> None:
        rows = self.filled_rows()
        for key, messages in error.as_dict().items():
            head, _sep, rest = key.partition(".")
            if head == "skus":
                index, _sep, field = rest.partition(".")
                if index.isdigit() and int(index) < len(rows):
                    form = self.skus.forms[rows[int(index)]]
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
                    continue
                self.skus.non_form_errors().extend(messages)
                continue
            target = key if key in self.form.fields else None
            for message in messages:
                self.form.add_error(target, message)


class CategoryForm(KebuForm):
    name = forms.CharField(label=_("Category name"), max_length=50)
    parent = forms.ModelChoiceField(
        label=_("Under"), queryset=Category.objects.all(), required=False, empty_label=_("— top level —")
    )


class CategoryRenameForm(KebuForm):
    """A category's new name; blank, separator and sibling names are the service's to refuse."""

    name = forms.CharField(label=_("Category name"), max_length=50)


# --- stores ---------------------------------------------------------------------------------------------


class StoreForm(KebuForm):
    """A new store. Lengths and uniqueness are the service's to say (``store_create``), in one place for
    the page, the admin and the API."""

    name = forms.CharField(
        label=_("Store name"),
        # Room for a name that is too long, so the service's message says so rather than the browser
        # cutting it silently.
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": _("e.g. 天猫旗舰店")}),
    )
    platform = forms.ChoiceField(label=_("Platform"), choices=Platform.choices, initial=Platform.OTHER)
    position = forms.IntegerField(
        label=_("Position"),
        required=False,
        help_text=_("Lists show stores by position, then by name."),
    )


class StoreEditForm(StoreForm):
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_(
            "An inactive store keeps its orders and its figures, but is no longer offered for new orders "
            "and imports."
        ),
    )
