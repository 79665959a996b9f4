"""The dashboard's pre-aggregated tables: the shop's sales summed per shop day, store and customer owner,
so that a dashboard over ten million orders reads a few thousand rows.

Every table is derived from the orders and customers and can be rebuilt from them at any time
(``services.dashboard.dashboard_rebuild``); an incremental refresh rewrites only the days touched since,
and their months' buyers sets (``dashboard_refresh``). Nothing else writes them.

- The owner is the customer's owner (``Customer.owner``), empty for the shared pool. It is the key that
  record visibility needs: a user's dashboard sums the rows of the owners whose customers they may see.
  When a staff account is deleted, its customers go to the pool (SET_NULL), and so do these rows.
- Money is kept in fen (分) as integers: sums over thousands of rows are exact on both databases, where
  SQLite would sum decimals as binary floating point. The selectors give it back as ``Decimal`` yuan.
- The day is the order's day in the shop's time zone (``settings.TIME_ZONE``); a refund counts on the
  day of its order, as in the sales summary (``orders/reports.py``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "DashboardBuyers",
    "DashboardBuyersMonth",
    "DashboardCategorySales",
    "DashboardCustomers",
    "DashboardProductSales",
    "DashboardProductSalesMonth",
    "DashboardSales",
    "DashboardState",
]


def _owner() -> models.ForeignKey:
    # No constraint index of its own: every table's key starts with the day.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("owner"),
    )


def _store() -> models.ForeignKey:
    return models.ForeignKey(
        "orders.Store", on_delete=models.CASCADE, related_name="+", db_index=False, verbose_name=_("store")
    )


class DashboardSales(models.Model):
    """The counted orders (``orders.COUNTED_STATUSES``) of one shop day, one store and one owner's
    customers: how many, what was paid and refunded, how many were a customer's first order."""

    day = models.DateField(_("day"))
    store = _store()
    owner = _owner()
    orders = models.PositiveIntegerField(_("orders"), default=0)
    new_customers = models.PositiveIntegerField(
        _("new customers"), default=0, help_text=_("Orders that were their customer's first counted order.")
    )
    refunded_orders = models.PositiveIntegerField(_("refunded orders"), default=0)
    gross_fen = models.BigIntegerField(_("paid (fen)"), default=0)
    refunds_fen = models.BigIntegerField(_("refunded (fen)"), default=0)

    class Meta:
        verbose_name = _("dashboard sales day")
        verbose_name_plural = _("dashboard sales days")
        constraints = [models.UniqueConstraint(fields=["day", "store", "owner"], name="dash_sales_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id}/{self.owner_id}: {self.orders}"


class DashboardCategorySales(models.Model):
    """Order lines of one shop day, store and owner per top-level category (empty: lines without one),
    net of what was returned and refunded on them, as the sales summary's category table counts them."""

    day = models.DateField(_("day"))
    store = _store()
    owner = _owner()
    category = models.ForeignKey(
        "orders.Category",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("top category"),
    )
    orders = models.PositiveIntegerField(_("orders"), default=0)
    units = models.BigIntegerField(_("units"), default=0)
    net_fen = models.BigIntegerField(_("net (fen)"), default=0)

    class Meta:
        verbose_name = _("dashboard category day")
        verbose_name_plural = _("dashboard category days")
        constraints = [
            models.UniqueConstraint(fields=["day", "store", "owner", "category"], name="dash_category_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id}/{self.owner_id} {self.category_id}: {self.net_fen}"


class DashboardProductSales(models.Model):
    """What each catalogue product sold on one shop day in one store to one owner's customers: a packed
    array with one entry per product (``services.dashboard.PRODUCT``: product id, units and net of
    returns and refunds in fen, orders), sorted by product id. Lines typed by hand, without a product,
    are only in the category table.

    One row per day, store and owner rather than per product too: a 90-day top ten over ~60 products,
    six stores and five owners summed ~190,000 rows in SQL (75 ms on SQLite); merged from arrays it
    takes a few milliseconds, and a catalogue ten times bigger costs the arrays little more."""

    day = models.DateField(_("day"))
    store = _store()
    owner = _owner()
    products = models.PositiveIntegerField(_("products"), default=0)
    entries = models.BinaryField(_("entries"))

    class Meta:
        verbose_name = _("dashboard products day")
        verbose_name_plural = _("dashboard products days")
        constraints = [models.UniqueConstraint(fields=["day", "store", "owner"], name="dash_product_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id}/{self.owner_id}: {self.products}"


class DashboardProductSalesMonth(models.Model):
    """What each product sold in one calendar month (``month`` is its first day), one store and one
    owner: the month's product arrays (``DashboardProductSales``) summed, one entry per product. A top
    list over a range sums its whole months from these and only its ragged ends from the days: a year at
    ten million orders is ~22,000 entries instead of ~650,000. Derived from the day arrays whenever
    those are written."""

    month = models.DateField(_("month"))
    store = _store()
    owner = _owner()
    products = models.PositiveIntegerField(_("products"), default=0)
    entries = models.BinaryField(_("entries"))

    class Meta:
        verbose_name = _("dashboard products month")
        verbose_name_plural = _("dashboard products months")
        constraints = [
            models.UniqueConstraint(fields=["month", "store", "owner"], name="dash_products_month_key")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.store_id}/{self.owner_id}: {self.products}"


class DashboardBuyers(models.Model):
    """Who bought on one shop day in one store, among one owner's customers: a packed array with one
    entry per customer (``services.dashboard.BUYER``: customer id, net spent in fen, orders, and whether
    the customer's first counted order is among them), sorted by customer id and stored column by column
    (``services.dashboard.buyers_bytes``), so that a reader who needs only who bought reads a third.

    Distinct customers do not add up across days (someone who bought on Monday and Friday is one
    customer of the week), so they cannot be summed like the other tables. Kept as a set per day instead,
    the customers of any range are the union of its days' sets: for 30 days of a shop with ten million
    orders that is about 6 MB, read and merged in tens of milliseconds. The same entries give the top
    customers by what they spent in the range."""

    day = models.DateField(_("day"))
    store = _store()
    owner = _owner()
    buyers = models.PositiveIntegerField(_("customers"), default=0)
    entries = models.BinaryField(_("entries"))

    class Meta:
        verbose_name = _("dashboard buyers day")
        verbose_name_plural = _("dashboard buyers days")
        constraints = [models.UniqueConstraint(fields=["day", "store", "owner"], name="dash_buyers_key")]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id}/{self.owner_id}: {self.buyers}"


class DashboardBuyersMonth(models.Model):
    """The buyers sets of one calendar month (``month`` is its first day), one store and one owner: the
    month's day sets (``DashboardBuyers``) merged, one entry per customer with what they spent and their
    orders that month, whether their first counted order ever is among them, and whether another one is.
    Derived from the day sets whenever those are written, never from the orders.

    A customer who buys on several days of a month is one entry here and one per day in the day sets:
    at ten million orders a year of months holds 2.8 million entries against its days' 4.5 million.
    The dashboard reads the whole months of the comparison period from these, and of the range itself
    when its line is by month (a weekly or daily line needs each day); the ragged ends come from the
    day sets. Order counts are capped per month here (``MAX_ORDERS_TOLD``), per day there.
    """

    month = models.DateField(_("month"))
    store = _store()
    owner = _owner()
    buyers = models.PositiveIntegerField(_("customers"), default=0)
    entries = models.BinaryField(_("entries"))

    class Meta:
        verbose_name = _("dashboard buyers month")
        verbose_name_plural = _("dashboard buyers months")
        constraints = [
            models.UniqueConstraint(fields=["month", "store", "owner"], name="dash_buyers_month_key")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.store_id}/{self.owner_id}: {self.buyers}"


class DashboardCustomers(models.Model):
    """How many active (not archived) customers each owner has per province and lifecycle stage, now:
    the province chart and the lifecycle funnel. A count over a million customers with an owner filter
    takes a few hundred milliseconds; this table answers in one."""

    owner = _owner()
    province = models.CharField(_("province"), max_length=30, blank=True)
    stage = models.CharField(_("lifecycle stage"), max_length=20)
    customers = models.PositiveIntegerField(_("customers"), default=0)

    class Meta:
        verbose_name = _("dashboard customer count")
        verbose_name_plural = _("dashboard customer counts")

    def __str__(self) -> str:
        return f"{self.owner_id} {self.province} {self.stage}: {self.customers}"


class DashboardState(models.Model):
    """How far the tables are: one row. ``seq`` is the last audit log entry folded in; the refresh reads
    the entries after it to find the days and customers to redo (the log is numbered in commit order,
    so none is skipped)."""

    seq = models.BigIntegerField(_("last audit entry"), default=0)
    zone = models.CharField(_("time zone"), max_length=64, blank=True, help_text=_("The shop days' zone."))
    rebuilt_at = models.DateTimeField(_("rebuilt at"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("up to date at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dashboard state")
        verbose_name_plural = _("dashboard state")

    def __str__(self) -> str:
        return f"#{self.seq}"
