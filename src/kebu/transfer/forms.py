"""The import pages' forms: the upload (the file, what it holds, the store its orders were sold in), and
the columns (which field each column feeds) with the mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.customers.models import CustomField, SocialKind
from kebu.customers.selectors import assignable_users
from kebu.orders.forms import ActiveStoreField
from kebu.orders.models import Store
from kebu.transfer.customers import CUSTOM_PREFIX
from kebu.transfer.models import ImportKind, ImportMode

ACCEPT = ".xlsx,.xls,.ods,.csv,.txt"

# The fields a customer sheet's column can feed, as the import reads them (transfer.customers), in the
# order a merchant looks for them. A column headers.CUSTOMER_HEADERS recognises as a field not listed
# here is offered as skipped, with a note.
CUSTOMER_FIELDS: list[tuple[str, Any]] = [
    ("name", gettext_lazy("Name")),
    ("phone", gettext_lazy("Phone")),
    ("customer_no", gettext_lazy("Customer number")),
    ("wechat", SocialKind.WECHAT.label),
    ("qq", SocialKind.QQ.label),
    ("wangwang", SocialKind.TAOBAO.label),
    ("douyin", SocialKind.DOUYIN.label),
    ("xiaohongshu", SocialKind.XIAOHONGSHU.label),
    ("email", gettext_lazy("Email")),
    ("gender", gettext_lazy("Gender")),
    ("birthday", gettext_lazy("Birthday")),
    ("province", gettext_lazy("Province")),
    ("city", gettext_lazy("City")),
    ("district", gettext_lazy("District")),
    ("address", gettext_lazy("Street address")),
    ("customer_type", gettext_lazy("Customer type")),
    ("stage", gettext_lazy("Lifecycle stage")),
    ("source", gettext_lazy("Source")),
    ("tags", gettext_lazy("Tags")),
    ("owner", gettext_lazy("Owner")),
    ("notes", gettext_lazy("Notes")),
]


# A product sheet's fields (the keys of headers.PRODUCT_HEADERS, as transfer.products reads them).
PRODUCT_FIELDS: list[tuple[str, Any]] = [
    ("sku_code", gettext_lazy("SKU code")),
    ("product", gettext_lazy("Product name")),
    ("category", gettext_lazy("Category")),
    ("brand", gettext_lazy("Brand")),
    ("color", gettext_lazy("Colour")),
    ("size", gettext_lazy("Size")),
    ("spec", gettext_lazy("Specification")),
    ("price", gettext_lazy("Price")),
    ("cost", gettext_lazy("Cost")),
    ("usage_cycle_days", gettext_lazy("Usage cycle (days)")),
    ("on_sale", gettext_lazy("On sale")),
]

# An order sheet's fields (the keys of headers.ORDER_HEADERS, as transfer.orders reads them): the order,
# its buyer, its lines, then money and delivery.
ORDER_FIELDS: list[tuple[str, Any]] = [
    ("order_no", gettext_lazy("Order number")),
    ("store", gettext_lazy("Store")),
    ("ordered_at", gettext_lazy("Order time")),
    ("paid_at", gettext_lazy("Payment time")),
    ("shipped_at", gettext_lazy("Shipped at")),
    ("delivered_at", gettext_lazy("Delivered at")),
    ("completed_at", gettext_lazy("Completed at")),
    ("status", gettext_lazy("Order status")),
    ("customer_no", gettext_lazy("Customer number")),
    ("customer_name", gettext_lazy("Customer name")),
    ("buyer", gettext_lazy("Buyer account")),
    ("receiver", gettext_lazy("Receiver")),
    ("receiver_family_name", gettext_lazy("Receiver's family name")),
    ("phone", gettext_lazy("Phone")),
    ("email", gettext_lazy("Email")),
    ("province", gettext_lazy("Province")),
    ("city", gettext_lazy("City")),
    ("district", gettext_lazy("District")),
    ("address", gettext_lazy("Street address")),
    ("sku_code", gettext_lazy("SKU code")),
    ("title", gettext_lazy("Item")),
    ("variant", gettext_lazy("Item variant")),
    ("quantity", gettext_lazy("Quantity")),
    ("unit_price", gettext_lazy("Unit price")),
    ("goods_total", gettext_lazy("Item total (unit price × quantity)")),
    ("shipping", gettext_lazy("Shipping fee")),
    ("line_discount", gettext_lazy("Line discount")),
    ("discount", gettext_lazy("Order discount")),
    ("coupon", gettext_lazy("Coupon amount")),
    ("paid", gettext_lazy("Amount paid")),
    ("refunded", gettext_lazy("Refunded")),
    ("line_refunded", gettext_lazy("Line refunded")),
    ("line_returned", gettext_lazy("Line returned")),
    ("aftersale_status", gettext_lazy("After-sale status")),
    ("payment_method", gettext_lazy("Payment method")),
    ("delivery_method", gettext_lazy("Delivery method")),
    ("carrier", gettext_lazy("Carrier")),
    ("tracking_no", gettext_lazy("Tracking number")),
    ("buyer_message", gettext_lazy("Buyer message")),
    ("seller_notes", gettext_lazy("Seller notes")),
]

# A review export's fields (the keys of headers.REVIEW_HEADERS, as transfer.reviews reads them).
REVIEW_FIELDS: list[tuple[str, Any]] = [
    ("order_no", gettext_lazy("Order number")),
    ("store", gettext_lazy("Store")),
    ("rating", gettext_lazy("Rating (1–5 stars, 好评/中评/差评)")),
    ("comment", gettext_lazy("Comment")),
    ("followup", gettext_lazy("Follow-up review (追评)")),
    ("reviewed_at", gettext_lazy("Review time")),
    ("review_id", gettext_lazy("Review ID")),
    ("line_no", gettext_lazy("Sub-order number")),
    ("sku_code", gettext_lazy("SKU code")),
    ("product", gettext_lazy("Item")),
    ("buyer", gettext_lazy("Buyer nickname (shown only, not matched)")),
]

KIND_LABELS: dict[str, Any] = {
    ImportKind.CUSTOMERS: gettext_lazy("Customers"),
    ImportKind.ORDERS: gettext_lazy("Orders (with their buyers)"),
    ImportKind.PRODUCTS: gettext_lazy("Products and SKUs"),
    ImportKind.REVIEWS: gettext_lazy("Reviews of imported orders"),
}
# The kinds whose rows belong to a store: chosen on upload, unless a column names it.
STORE_KINDS = (ImportKind.ORDERS, ImportKind.REVIEWS)


def import_max_bytes() -> int:
    return int(cast(int, settings.KEBU["IMPORT_MAX_MB"])) * 1024 * 1024


def field_choices(definitions: Sequence[CustomField]) -> list[tuple[str, Any]]:
    """Every field a column may feed: Kebu's own, then the shop's active custom fields."""
    return CUSTOMER_FIELDS + [(CUSTOM_PREFIX + d.key, d.label) for d in definitions]


def kind_field_choices(kind: str, definitions: Sequence[CustomField]) -> list[tuple[str, Any]]:
    """The fields a column of a sheet of ``kind`` may feed (custom fields are customers' only)."""
    if kind == ImportKind.PRODUCTS:
        return list(PRODUCT_FIELDS)
    if kind == ImportKind.ORDERS:
        return list(ORDER_FIELDS)
    if kind == ImportKind.REVIEWS:
        return list(REVIEW_FIELDS)
    return field_choices(definitions)


def _store_field() -> forms.ModelChoiceField:
    return ActiveStoreField(
        label=gettext_lazy("Store"),
        queryset=Store.objects.filter(is_active=True),
        required=False,
        empty_label=gettext_lazy("The file has a store column"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )


class UploadForm(forms.Form):
    """The file, what it holds (only the kinds this user may import are offered), the mode, and for
    orders the store they were sold in."""

    file = forms.FileField(
        label=gettext_lazy("Spreadsheet"),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT, "class": "form-control"}),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("Rows with problems"),
        choices=ImportMode.choices,
        initial=ImportMode.GOOD_ROWS,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, kinds: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"] = forms.ChoiceField(
            label=gettext_lazy("What is in the file"),
            choices=[(kind, KIND_LABELS[kind]) for kind in kinds],
            initial=kinds[0] if kinds else None,
            # A form posted without it (a bookmark from before there were kinds) holds customers.
            required=False,
            widget=forms.RadioSelect,
        )
        self.fields["store"] = _store_field()
        self.fields["store"].help_text = gettext_lazy(
            "Orders and reviews only: the store the orders were sold in."
        )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = import_max_bytes()
        if upload.size > limit:
            # The reader's own words for a file too big, so it reads the same wherever it is refused.
            raise forms.ValidationError(
                _("The file is %(size)s MB; at most %(max)s MB can be imported. Split it into several files.")
                % {"size": upload.size // (1024 * 1024), "max": limit // (1024 * 1024)}
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("kind") and "kind" not in self.errors:
            cleaned["kind"] = ImportKind.CUSTOMERS
        if cleaned.get("kind") not in STORE_KINDS:
            cleaned["store"] = None
        return cleaned


# The kinds whose import adds customers (a customer sheet's rows, an order sheet's new buyers).
OWNER_KINDS = (ImportKind.CUSTOMERS, ImportKind.ORDERS)


class MappingForm(forms.Form):
    """One choice per column of the file (``col_<index>``: a field key, or blank to skip the column), the
    mode, for orders and reviews the store, for customers and orders the owner of the customers the
    import adds (``owner_choice``: offered only to someone who may assign customers, as on the
    new-customer form), and a name for saving the choice as a preset."""

    mode = forms.ChoiceField(
        label=gettext_lazy("Rows with problems"), choices=ImportMode.choices, widget=forms.RadioSelect
    )
    preset_name = forms.CharField(label=gettext_lazy("Preset name"), max_length=100, required=False)

    def __init__(
        self,
        *args: Any,
        headers: Sequence[str],
        choices: list[tuple[str, Any]],
        kind: str = ImportKind.CUSTOMERS,
        owner_choice: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.headers = list(headers)
        if kind in STORE_KINDS:
            self.fields["store"] = _store_field()
        if owner_choice and kind in OWNER_KINDS:
            self.fields["owner"] = forms.ModelChoiceField(
                label=gettext_lazy("Owner of new customers"),
                queryset=assignable_users(),
                required=False,
                empty_label=gettext_lazy("— nobody: the shared pool —"),
                help_text=gettext_lazy(
                    "The customers this import adds get this owner, unless the file's owner column names one."
                ),
                widget=forms.Select(attrs={"class": "form-select"}),
            )
        options = [("", gettext_lazy("— skip —")), *choices]
        self.labels = dict(options)
        for index, header in enumerate(self.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header,
                choices=options,
                required=False,
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )

    @property
    def columns(self) -> list[tuple[int, str, forms.BoundField]]:
        return [(index, header, self[f"col_{index}"]) for index, header in enumerate(self.headers)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        seen: dict[str, str] = {}
        for index, header in enumerate(self.headers):
            key = cleaned.get(f"col_{index}")
            if not key:
                continue
            if key in seen:
                self.add_error(
                    f"col_{index}",
                    _("“%(first)s” already feeds %(field)s; a field takes one column.")
                    % {"first": seen[key], "field": self.labels.get(key, key)},
                )
            else:
                seen[key] = header
        return cleaned

    def mapping(self) -> dict[int, str]:
        """Column index -> field key, for the columns not skipped (valid forms only)."""
        return {
            index: key for index in range(len(self.headers)) if (key := self.cleaned_data.get(f"col_{index}"))
        }
