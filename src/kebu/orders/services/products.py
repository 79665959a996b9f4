"""The catalogue: categories (a tree), brands, products and their SKUs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.audit.services import audit_record
from kebu.core.errors import Conflict, ValidationFailed
from kebu.customers.models import Customer
from kebu.engagement.models import Preference
from kebu.orders.models import (
    CATEGORY_SEPARATOR,
    Brand,
    Category,
    CustomerCategorySpend,
    OrderLine,
    Product,
    Sku,
)
from kebu.orders.services.orders import _errors_add, money_parse

MAX_DEPTH = 4
SEPARATOR = CATEGORY_SEPARATOR


def _category_name_clean(name: str) -> str:
    name = name.strip()[:50]
    if not name or SEPARATOR.strip() in name:
        raise ValidationFailed(
            _("Enter a category name."), field_errors={"name": [_("Enter a category name.")]}
        )
    return name


def _category_sibling_refuse(*, parent: Category | None, name: str, category: Category | None) -> None:
    siblings = Category.objects.filter(parent=parent, name=name)
    if category is not None:
        siblings = siblings.exclude(pk=category.pk)
    if siblings.exists():
        message = _("There is already a category “%(name)s” here.") % {"name": name}
        raise ValidationFailed(message, field_errors={"name": [message]})


@transaction.atomic
def category_create(*, actor: Any, name: str, parent: Category | None = None) -> Category:
    """A category under ``parent`` (or at the top). Names are unique among siblings."""
    name = _category_name_clean(name)
    if parent is not None and parent.path.count(SEPARATOR) + 1 >= MAX_DEPTH:
        message = _("Categories go at most %(n)d levels deep.") % {"n": MAX_DEPTH}
        raise ValidationFailed(message, field_errors={"parent": [message]})
    _category_sibling_refuse(parent=parent, name=name, category=None)
    path = f"{parent.path}{SEPARATOR}{name}" if parent else name
    category = Category.objects.create(
        name=name, parent=parent, path=path, root=parent.root if parent else None
    )
    if parent is None:
        category.root = category
        category.save(update_fields=["root"])
    audit_record(action="catalogue.change", actor=actor, target=category, data={"created": path})
    return category


@transaction.atomic
def category_rename(*, actor: Any, category: Category, name: str) -> Category:
    """Give ``category`` a new name, under the same rules as a new one; its path and the paths of every
    category below it follow, all or nothing.

    A rename never moves a category, so it stays under the same top-level category: the top category
    that order lines copied (``OrderLine.root_category``) and the customers' spend per top category
    (``CustomerCategorySpend``, ``Customer.top_category``) refer to it by key and stay right without
    being touched. That is also why there is no way to move a category under another parent: it would
    change the top category of past order lines."""
    name = _category_name_clean(name)
    category = Category.objects.select_for_update().get(pk=category.pk)
    if name == category.name:
        return category
    _category_sibling_refuse(parent=category.parent, name=name, category=category)
    old_path = category.path
    parent = category.parent
    new_path = f"{parent.path}{SEPARATOR}{name}" if parent else name
    below = list(Category.objects.filter(path__startswith=old_path + SEPARATOR))
    for descendant in below:
        descendant.path = new_path + descendant.path[len(old_path) :]
    Category.objects.bulk_update(below, ["path"])
    category.name, category.path = name, new_path
    category.save(update_fields=["name", "path"])
    audit_record(
        action="catalogue.change",
        actor=actor,
        target=category,
        changes={"path": [old_path, new_path]},
        data={"subcategories renamed": len(below)},
    )
    return category


def _category_uses(category: Category) -> list[str]:
    """What still refers to ``category``, in words; empty when it may be deleted. Every key to
    :class:`Category` is here (a test checks the list against the models): the tree, the products, the
    top category copied onto order lines, and the customers' figures and stated preferences. The one key
    not asked is the dashboard's day totals per top category: they are counted from the order lines, so a
    category no line names has only stale rows there, which go with it."""
    uses = []
    children = Category.objects.filter(parent=category).count()
    if children:
        uses.append(ngettext("%(n)d subcategory", "%(n)d subcategories", children) % {"n": children})
    products = Product.objects.filter(category=category).count()
    if products:
        uses.append(ngettext("%(n)d product", "%(n)d products", products) % {"n": products})
    lines = OrderLine.objects.filter(root_category=category).count()
    if lines:
        uses.append(ngettext("%(n)d order line", "%(n)d order lines", lines) % {"n": lines})
    # One count of customers, whichever of their rows names it: spend per category, top category (no
    # index, but only scanned here, when deleting), favourite categories.
    customers = Customer.objects.filter(
        Q(pk__in=CustomerCategorySpend.objects.filter(category=category).values("customer_id"))
        | Q(top_category=category)
        | Q(pk__in=Preference.categories.through.objects.filter(category=category).values("preference_id"))
    ).count()
    if customers:
        uses.append(
            ngettext(
                "%(n)d customer's figures or preferences",
                "%(n)d customers' figures or preferences",
                customers,
            )
            % {"n": customers}
        )
    return uses


@transaction.atomic
def category_delete(*, actor: Any, category: Category) -> None:
    """Delete a category made by mistake: only while nothing refers to it, so that no product, order
    line, customer figure or preference loses its category. Otherwise say what still uses it."""
    category = Category.objects.select_for_update().get(pk=category.pk)
    uses = _category_uses(category)
    if uses:
        raise ValidationFailed(
            _("“%(path)s” was not deleted: %(uses)s still use it.")
            % {"path": category.path, "uses": get_text_list(uses, _("and"))}
        )
    path, pk = category.path, category.pk
    # A top-level category is its own root; the key is cleared first so the row is not protected by itself.
    Category.objects.filter(pk=pk).update(root=None)
    category.delete()
    audit_record(
        action="catalogue.change",
        actor=actor,
        target_type="orders.category",
        target_id=pk,
        target_repr=path,
        data={"deleted": path},
    )


def category_path_levels(path: str) -> list[str]:
    """The names of the levels of ``护肤 › 面霜`` (Kebu's own, as its export writes it), ``护肤/面霜`` or
    ``护肤>面霜``. A path that has Kebu's separator is split there alone: a category's name may hold a ``/``
    or ``>`` (洗发/护发), never the separator, and its own export must name it again, not a level below."""
    mark = SEPARATOR.strip()
    parts = path.split(mark) if mark in path else path.replace(">", "/").split("/")
    return [part.strip() for part in parts if part.strip()]


def category_by_path(*, actor: Any, path: str) -> Category:
    """The category at ``护肤/面霜`` or ``护肤 › 面霜``, created level by level where missing (imports).
    A category's own path, as the export writes it, is that category, whatever its names hold."""
    if found := Category.objects.filter(path=path.strip()).first():
        return found
    parts = category_path_levels(path)
    if not parts:
        raise ValidationFailed(
            _("Enter a category name."), field_errors={"category": [_("Enter a category name.")]}
        )
    parent: Category | None = None
    for name in parts:
        found = Category.objects.filter(parent=parent, name=name[:50]).first()
        parent = found or category_create(actor=actor, name=name, parent=parent)
    assert parent is not None
    return parent


@dataclass
class SkuInput:
    code: str
    price_cny: Any
    cost_cny: Any = None
    color: str = ""
    size: str = ""
    spec: str = ""
    is_active: bool = True


@dataclass
class ProductInput:
    name: str
    category: Category | None = None
    brand_name: str = ""
    usage_cycle_days: Any = None
    description: str = ""
    is_active: bool = True
    skus: Sequence[SkuInput] = field(default_factory=list)


def _product_clean(data: ProductInput, errors: dict[str, list[Any]]) -> tuple[str, int | None]:
    name = data.name.strip()[:100]
    if not name:
        _errors_add(errors, "name", _("Enter the product name."))
    cycle = data.usage_cycle_days
    if cycle in (None, ""):
        return name, None
    try:
        days = int(cycle)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 3650:
        _errors_add(errors, "usage_cycle_days", _("Enter between 1 and 3650 days, or leave it empty."))
        return name, None
    return name, days


def _skus_clean(
    skus: Sequence[SkuInput], errors: dict[str, list[Any]], *, product: Product | None
) -> list[Sku]:
    clean: list[Sku] = []
    codes = [s.code.strip() for s in skus]
    taken = set(
        Sku.objects.filter(code__in=[c for c in codes if c])
        .exclude(product=product)
        .values_list("code", flat=True)
        if product is not None
        else Sku.objects.filter(code__in=[c for c in codes if c]).values_list("code", flat=True)
    )
    for index, item in enumerate(skus):
        prefix = f"skus.{index}."
        code = codes[index][:64]
        if not code:
            _errors_add(errors, prefix + "code", _("Enter the SKU code."))
        elif code in taken or codes.index(code) != index:
            _errors_add(errors, prefix + "code", _("SKU code %(code)s is already used.") % {"code": code})
        price = money_parse(item.price_cny, errors=errors, key=prefix + "price_cny")
        cost = money_parse(item.cost_cny, errors=errors, key=prefix + "cost_cny", allow_none=True)
        clean.append(
            Sku(
                code=code,
                price_cny=price,
                cost_cny=cost,
                color=item.color.strip()[:30],
                size=item.size.strip()[:30],
                spec=item.spec.strip()[:60],
                is_active=item.is_active,
            )
        )
    if not skus:
        _errors_add(errors, "skus", _("A product needs at least one SKU (code and price)."))
    return clean


@transaction.atomic
def product_create(*, actor: Any, data: ProductInput) -> Product:
    """A product with its SKUs, all or nothing."""
    errors: dict[str, list[Any]] = {}
    name, cycle = _product_clean(data, errors)
    skus = _skus_clean(data.skus, errors, product=None)
    if errors:
        raise ValidationFailed(
            _("The product was not saved; correct the marked fields."), field_errors=errors
        )
    brand = (
        Brand.objects.get_or_create(name=data.brand_name.strip()[:50])[0] if data.brand_name.strip() else None
    )
    product = Product.objects.create(
        name=name,
        category=data.category,
        brand=brand,
        usage_cycle_days=cycle,
        description=data.description.strip()[:2000],
        is_active=data.is_active,
    )
    for sku in skus:
        sku.product = product
    Sku.objects.bulk_create(skus)
    audit_record(action="catalogue.change", actor=actor, target=product, data={"created": name})
    return product


@transaction.atomic
def product_update(*, actor: Any, product: Product, data: ProductInput, expected_version: int) -> Product:
    """Change a product and its SKUs if nobody changed them since ``expected_version`` was read: SKUs are
    matched by code; a code no longer listed is taken off sale (never deleted: orders refer to it).

    The version check is a conditional UPDATE, as ``customer_update``'s, which works the same on SQLite
    (where ``select_for_update`` does nothing) and PostgreSQL; a stale save raises ``Conflict`` and
    changes nothing, so one colleague's new price is not silently replaced by the other's old one."""
    errors: dict[str, list[Any]] = {}
    name, cycle = _product_clean(data, errors)
    skus = _skus_clean(data.skus, errors, product=product)
    if errors:
        raise ValidationFailed(
            _("The product was not saved; correct the marked fields."), field_errors=errors
        )
    claimed = Product.objects.filter(pk=product.pk, version=expected_version).update(version=F("version") + 1)
    if not claimed:
        raise Conflict(
            _("Someone else saved this product while you were editing. Reload to see their changes.")
        )
    product = Product.objects.get(pk=product.pk)
    brand = (
        Brand.objects.get_or_create(name=data.brand_name.strip()[:50])[0] if data.brand_name.strip() else None
    )
    product.name, product.category, product.brand = name, data.category, brand
    product.usage_cycle_days, product.description = cycle, data.description.strip()[:2000]
    product.is_active, product.updated_at = data.is_active, timezone.now()
    product.save()
    existing = {s.code: s for s in product.skus.all()}
    for sku in skus:
        current = existing.pop(sku.code, None)
        if current is None:
            sku.product = product
            sku.save()
            continue
        for attribute in ("price_cny", "cost_cny", "color", "size", "spec", "is_active"):
            setattr(current, attribute, getattr(sku, attribute))
        current.save()
    Sku.objects.filter(pk__in=[s.pk for s in existing.values()]).update(is_active=False)
    audit_record(action="catalogue.change", actor=actor, target=product, data={"updated": name})
    return product


# --- what an import writes ------------------------------------------------------------------------------

# The fields an import may change on a SKU and on its product (besides the product's name).
SKU_IMPORT_FIELDS = ("price_cny", "cost_cny", "color", "size", "spec", "is_active")
PRODUCT_IMPORT_FIELDS = ("name", "category_id", "brand_id", "usage_cycle_days")


def sku_add(*, actor: Any, product: Product, data: SkuInput) -> Sku:
    """One more SKU for ``product`` (an imported sheet's row for a product that already has others)."""
    errors: dict[str, list[Any]] = {}
    [sku] = _skus_clean([data], errors, product=None)
    if errors:
        raise ValidationFailed(_("The SKU was not saved; correct the marked fields."), field_errors=errors)
    sku.product = product
    sku.save()
    # A new version: an edit form opened before does not list this SKU, and saving it would take the SKU
    # off sale.
    Product.objects.filter(pk=product.pk).update(version=F("version") + 1)
    audit_record(action="catalogue.change", actor=actor, target=product, data={"sku added": sku.code})
    return sku


def catalogue_import_update(
    *, actor: Any, sku: Sku, sku_values: dict[str, Any], product_values: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Set the given fields (``SKU_IMPORT_FIELDS``, ``PRODUCT_IMPORT_FIELDS``) on ``sku`` and its
    product, already checked by the caller; return the values they had, for undo. The product takes a
    new version even when only the SKU changed: its price is saved from the product's edit form too."""
    product = sku.product
    before = {
        "sku": {name: getattr(sku, name) for name in sku_values},
        "product": {name: getattr(product, name) for name in product_values},
    }
    if sku_values:
        Sku.objects.filter(pk=sku.pk).update(**sku_values)
    if product_values or sku_values:
        Product.objects.filter(pk=product.pk).update(
            **product_values, updated_at=timezone.now(), version=F("version") + 1
        )
    audit_record(
        action="catalogue.change",
        actor=actor,
        target=product,
        data={"imported": sku.code, "fields": sorted([*sku_values, *product_values])},
    )
    return before
