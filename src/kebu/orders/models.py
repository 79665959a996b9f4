"""Products, orders with their lines, after-sales (returns, refunds, exchanges) and credit (赊账).

Tables, constraints and indexes only; the rules live in ``services/``. Money is ``Decimal`` in yuan with
two places, the column names end in ``_cny``. The customer's figures computed from these tables (total
spent, order count, …) live on the customer row: see ``services/metrics.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kebu.core.fields import EncryptedTextField

MONEY = {"max_digits": 14, "decimal_places": 2}


class Platform(models.TextChoices):
    TAOBAO = "taobao", _("Taobao")
    TMALL = "tmall", _("Tmall")
    JD = "jd", _("JD")
    PINDUODUO = "pinduoduo", _("Pinduoduo")
    DOUYIN = "douyin", pgettext_lazy("platform", "Douyin shop")
    KUAISHOU = "kuaishou", _("Kuaishou shop")
    XIAOHONGSHU = "xiaohongshu", pgettext_lazy("platform", "Xiaohongshu shop")
    YOUZAN = "youzan", _("Youzan")
    WEIDIAN = "weidian", _("Weidian")
    WECHAT = "wechat", pgettext_lazy("platform", "WeChat")
    SHOPIFY = "shopify", _("Shopify")
    WOOCOMMERCE = "woocommerce", _("WooCommerce")
    OFFLINE = "offline", _("Offline / in person")
    OTHER = "other", _("Other")


class Store(models.Model):
    """A sales channel: one shop on one platform (天猫旗舰店, 拼多多店, 微信私域, 门店…). Order numbers are
    unique per store, because each marketplace numbers its own orders."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    platform = models.CharField(
        _("platform"), max_length=20, choices=Platform.choices, default=Platform.OTHER
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self) -> str:
        return self.name


# Between the levels of a category's path: "护肤 › 面霜".
CATEGORY_SEPARATOR = " › "


class Category(models.Model):
    """A node of the product category tree (护肤 › 面霜). ``root`` is the top-level node above it (itself
    for a top-level one), kept by the services so that spend per top category needs no recursion."""

    name = models.CharField(_("name"), max_length=50)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent category"),
    )
    root = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    path = models.CharField(_("path"), max_length=200, editable=False, help_text=_("护肤 › 面霜"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["path"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(parent__isnull=True), name="category_unique_root_name"
            ),
        ]

    def __str__(self) -> str:
        return self.path or self.name


class Brand(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("brand")
        verbose_name_plural = _("brands")

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """What a shop sells; each variant that has its own code and price is a :class:`Sku`."""

    name = models.CharField(_("name"), max_length=100)
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("category"),
    )
    brand = models.ForeignKey(
        Brand,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("brand"),
    )
    usage_cycle_days = models.PositiveSmallIntegerField(
        _("usage cycle (days)"),
        null=True,
        blank=True,
        help_text=_("How long one unit lasts a customer; repurchase reminders are based on it."),
    )
    description = models.TextField(_("description"), blank=True, validators=[MaxLengthValidator(2000)])
    is_active = models.BooleanField(_("on sale"), default=True)
    # Moves with every change to the product or one of its SKUs (they are edited together), so that a
    # save from a stale read is refused instead of putting old prices back (services.products).
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [models.Index(fields=["category", "name"], name="product_category")]
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="product_version_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Sku(models.Model):
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="skus", verbose_name=_("product")
    )
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    color = models.CharField(_("colour"), max_length=30, blank=True)
    size = models.CharField(_("size"), max_length=30, blank=True)
    spec = models.CharField(_("specification"), max_length=60, blank=True, help_text=_("e.g. 50ml, 250g×2"))
    price_cny = models.DecimalField(_("price"), **MONEY)
    cost_cny = models.DecimalField(_("cost"), **MONEY, null=True, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        ordering = ["product_id", "code"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        constraints = [
            models.CheckConstraint(condition=Q(price_cny__gte=0), name="sku_price_not_negative"),
            models.CheckConstraint(condition=Q(cost_cny__gte=0) | Q(cost_cny__isnull=True), name="sku_cost"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.variant}".strip()

    @property
    def variant(self) -> str:
        """颜色/尺码/规格 as one label, e.g. "红色 / M"."""
        return " / ".join(v for v in (self.color, self.size, self.spec) if v)


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting payment")  # 待付款
    PAID = "paid", _("Paid")  # 已付款
    SHIPPED = "shipped", _("Shipped")  # 已发货
    DELIVERED = "delivered", _("Delivered")  # 已签收
    COMPLETED = "completed", _("Completed")  # 已完成
    CANCELLED = "cancelled", _("Cancelled")  # 已取消
    CLOSED = "closed", _("Closed")  # 已关闭 (refunded in full)


# An order counts for the customer's figures once it is paid (or taken on credit) and for as long as it
# is not cancelled; an order refunded in full is closed and still counts, with nothing spent.
COUNTED_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.CLOSED,
)


class PaymentMethod(models.TextChoices):
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    BANK_CARD = "bank_card", _("Bank card")
    COD = "cod", _("Cash on delivery")
    HUABEI = "huabei", _("Huabei")
    CASH = "cash", _("Cash")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    CREDIT = "credit", _("On credit (赊账)")
    OTHER = "other", _("Other")


class DeliveryMethod(models.TextChoices):
    EXPRESS = "express", _("Express parcel")
    FREIGHT = "freight", _("Freight / logistics")
    SAME_CITY = "same_city", _("Same-city delivery")
    PICKUP = "pickup", _("Pick-up")
    NONE = "none", _("No delivery needed")


class Order(models.Model):
    order_no = models.CharField(
        _("order number"),
        max_length=64,
        help_text=_("The marketplace's own order id, or the number Kebu gave a manual order."),
    )
    # No index of their own: order_store and order_customer (below) lead with them, and every index is
    # one more write for each order saved.
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="orders", verbose_name=_("store"), db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name=_("customer"),
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    ordered_at = models.DateTimeField(_("order time"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    goods_cny = models.DecimalField(_("goods"), **MONEY, default=0, help_text=_("Sum of the lines."))
    shipping_cny = models.DecimalField(_("shipping fee"), **MONEY, default=0)
    discount_cny = models.DecimalField(_("order discount"), **MONEY, default=0)
    coupon_code = models.CharField(_("coupon"), max_length=40, blank=True)
    coupon_cny = models.DecimalField(_("coupon amount"), **MONEY, default=0)
    total_cny = models.DecimalField(
        _("amount due"), **MONEY, default=0, help_text=_("Goods − discount − coupon + shipping.")
    )
    paid_cny = models.DecimalField(_("amount paid"), **MONEY, default=0)
    # Refunds agreed but not yet paid out are reserved here too, so that two refunds in flight cannot
    # together pass what was paid (the reservation is one conditional UPDATE; see services/aftersales.py).
    refund_reserved_cny = models.DecimalField(_("refunds requested"), **MONEY, default=0, editable=False)
    refunded_cny = models.DecimalField(_("refunded"), **MONEY, default=0, editable=False)

    payment_method = models.CharField(
        _("payment method"), max_length=20, choices=PaymentMethod.choices, blank=True
    )
    delivery_method = models.CharField(
        _("delivery method"), max_length=12, choices=DeliveryMethod.choices, default=DeliveryMethod.EXPRESS
    )
    carrier = models.CharField(_("carrier"), max_length=30, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=40, blank=True)

    # The shipping address as it was when the order was placed, not a link to the customer's address
    # book: the book changes, the parcel went where it went.
    receiver_name = models.CharField(_("receiver"), max_length=50, blank=True)
    receiver_phone = EncryptedTextField(_("receiver phone"), max_length=32, blank=True)
    ship_province = models.CharField(_("province"), max_length=30, blank=True)
    ship_city = models.CharField(_("city"), max_length=30, blank=True)
    ship_district = models.CharField(_("district"), max_length=30, blank=True)
    ship_address = EncryptedTextField(_("street address"), max_length=200, blank=True)
    buyer_message = EncryptedTextField(_("buyer message"), blank=True, validators=[MaxLengthValidator(1000)])
    seller_notes = EncryptedTextField(_("seller notes"), blank=True, validators=[MaxLengthValidator(2000)])

    # Credit (赊账): what of this order was put on the customer's account when it was paid (the rest of
    # ``paid_cny`` was paid there and then, 部分付款，余款挂账), what of that is still owed, and by when.
    credit_due_date = models.DateField(_("payment due"), null=True, blank=True)
    credit_taken_cny = models.DecimalField(
        _("taken on credit"),
        **MONEY,
        default=0,
        editable=False,
        help_text=_("What of the order went on the customer's account; the rest was paid at the time."),
    )
    credit_outstanding_cny = models.DecimalField(_("still owed"), **MONEY, default=0, editable=False)

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        permissions = [("manage_credit", _("Set credit limits and record payments received"))]
        indexes = [
            models.Index(fields=["customer", "-ordered_at", "-id"], name="order_customer"),
            # Every column the figures rebuild reads from a paid order, so that it walks this narrow index
            # in customer order (no sort) instead of the wide order rows: at 10M orders the table is
            # ~4.7 GB and the index ~0.5 GB; a rebuild's figures step went from 43 s to 20 s on SQLite,
            # and fell again once the index held only the orders that count (bench/). The status is in
            # it too: SQLite tests the WHERE of a partial index again on each entry it reads. What is
            # owed is read through order_credit_open.
            models.Index(
                fields=["customer", "ordered_at", "paid_cny", "refunded_cny", "status"],
                name="order_figures",
                condition=Q(status__in=COUNTED_STATUSES),
            ),
            models.Index(fields=["-ordered_at", "-id"], name="order_time"),
            models.Index(fields=["status", "-ordered_at", "-id"], name="order_status"),
            models.Index(fields=["store", "-ordered_at", "-id"], name="order_store"),
            # Finding an order by its number without knowing the store (search, API filter).
            models.Index(fields=["order_no"], name="order_number"),
            models.Index(fields=["total_cny", "id"], name="order_amount"),
            models.Index(
                fields=["credit_due_date", "customer"],
                name="order_credit_open",
                condition=Q(credit_outstanding_cny__gt=0),
            ),
            # The daily "call after delivery" reminders ask for one day's deliveries.
            models.Index(
                fields=["delivered_at"], name="order_delivered", condition=Q(delivered_at__isnull=False)
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["store", "order_no"], name="order_unique_number_per_store"),
            models.CheckConstraint(
                condition=Q(goods_cny__gte=0)
                & Q(shipping_cny__gte=0)
                & Q(discount_cny__gte=0)
                & Q(coupon_cny__gte=0)
                & Q(total_cny__gte=0)
                & Q(paid_cny__gte=0),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_cny__gte=0)
                & Q(refunded_cny__lte=F("refund_reserved_cny"))
                & Q(refund_reserved_cny__lte=F("paid_cny")),
                name="order_refunds_within_paid",
            ),
            models.CheckConstraint(
                condition=Q(credit_outstanding_cny__gte=0) & Q(credit_outstanding_cny__lte=F("paid_cny")),
                name="order_credit_within_paid",
            ),
            # Payments and refunds only lower what is owed: never above what was taken on credit.
            models.CheckConstraint(
                condition=Q(credit_outstanding_cny__lte=F("credit_taken_cny"))
                & Q(credit_taken_cny__lte=F("paid_cny")),
                name="order_credit_within_taken",
            ),
            models.CheckConstraint(
                condition=Q(paid_at__isnull=False) | ~Q(status__in=COUNTED_STATUSES),
                name="order_counted_is_paid",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="order_version_positive"),
        ]

    def __str__(self) -> str:
        return self.order_no

    @property
    def is_counted(self) -> bool:
        return self.status in COUNTED_STATUSES

    @property
    def net_cny(self):  # type: ignore[no-untyped-def]
        """What the customer spent on this order, after refunds."""
        return self.paid_cny - self.refunded_cny if self.is_counted else 0

    @property
    def refundable_cny(self):  # type: ignore[no-untyped-def]
        return self.paid_cny - self.refund_reserved_cny if self.is_counted else 0

    @property
    def on_credit(self) -> bool:
        return self.payment_method == PaymentMethod.CREDIT

    @property
    def status_label(self) -> str:
        """The status as the pages show it: a paid order that still owes on credit reads "on credit" (赊账),
        not "paid" (已付款), nothing having come in for it. Its status stays PAID: it counts, ships and
        refunds as any paid order does."""
        if self.status == OrderStatus.PAID and self.on_credit and self.credit_outstanding_cny > 0:
            return str(pgettext_lazy("order status", "On credit"))
        return str(self.get_status_display())

    @property
    def paid_now_cny(self):  # type: ignore[no-untyped-def]
        """On credit, what the customer paid when the order was taken (the rest went on their account)."""
        return self.paid_cny - self.credit_taken_cny if self.on_credit else self.paid_cny


class OrderLine(models.Model):
    """One line: a SKU, or free text for something not in the catalogue. Name, code, variant and the
    top category are copied at order time, so renaming a product does not rewrite old orders."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    root_category = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    title = models.CharField(_("item"), max_length=200)
    sku_code = models.CharField(_("SKU code"), max_length=64, blank=True)
    variant = models.CharField(_("variant"), max_length=130, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price_cny = models.DecimalField(_("unit price"), **MONEY)
    discount_cny = models.DecimalField(_("line discount"), **MONEY, default=0)
    amount_cny = models.DecimalField(_("line amount"), **MONEY, help_text=_("Quantity × price − discount."))
    returned_quantity = models.PositiveIntegerField(_("returned"), default=0, editable=False)
    refunded_cny = models.DecimalField(_("refunded"), **MONEY, default=0, editable=False)
    position = models.PositiveSmallIntegerField(default=0)
    # The order's customer, and whether the order counts for the figures (COUNTED_STATUSES), copied onto
    # each line by the order services when the order is created and when it is paid. With them the
    # rebuild of every customer's spend per category reads one index in customer order, where joining
    # 16M lines to 10M orders and sorting them took 40 s (bench/orders.py); the customer's lines are
    # also what baskets and recommendations read. Whatever moves an order to another customer (a merge)
    # must move its lines' copy too; the property test in tests/test_metrics.py holds them equal.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", editable=False, db_index=False
    )
    counted = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        indexes = [
            # Covers the spend rebuild (metrics.py), grouped straight off it; also the customer's index.
            models.Index(
                fields=["customer", "root_category", "counted", "amount_cny", "refunded_cny"],
                name="line_customer_spend",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(unit_price_cny__gte=0) & Q(discount_cny__gte=0) & Q(amount_cny__gte=0),
                name="line_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(returned_quantity__lte=F("quantity")) & Q(refunded_cny__lte=F("amount_cny")),
                name="line_returns_within_sold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ×{self.quantity}"


class AfterSaleKind(models.TextChoices):
    REFUND = "refund", _("Refund only")  # 仅退款
    RETURN = "return", _("Return and refund")  # 退货退款
    EXCHANGE = "exchange", _("Exchange")  # 换货


class AfterSaleStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")  # 待处理
    APPROVED = "approved", _("Approved, awaiting return")  # 已同意，待退货
    RECEIVED = "received", _("Return received")  # 已收到退货
    COMPLETED = "completed", _("Completed")  # 已退款 / 已换货
    REJECTED = "rejected", _("Rejected")  # 已拒绝
    CANCELLED = "cancelled", _("Withdrawn")  # 已撤销


OPEN_AFTERSALE_STATUSES = (AfterSaleStatus.REQUESTED, AfterSaleStatus.APPROVED, AfterSaleStatus.RECEIVED)


class AfterSaleReason(models.TextChoices):
    QUALITY = "quality", _("Quality problem")
    WRONG_ITEM = "wrong_item", _("Wrong or missing item")
    DAMAGED = "damaged", _("Damaged in transit")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    SIZE = "size", _("Size or fit")
    CHANGED_MIND = "changed_mind", _("Changed mind (7-day no-reason return)")
    NOT_RECEIVED = "not_received", _("Not received")
    PRICE = "price", _("Price difference")
    OTHER = "other", _("Other")


class AfterSale(models.Model):
    """A return, refund or exchange (售后) of part or all of an order. Money moves when it completes."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="aftersales", verbose_name=_("order")
    )
    # Copied from the order, so a customer's after-sales list needs no join.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="aftersales", editable=False
    )
    kind = models.CharField(_("type"), max_length=10, choices=AfterSaleKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=AfterSaleStatus.choices, default=AfterSaleStatus.REQUESTED
    )
    reason = models.CharField(_("reason"), max_length=20, choices=AfterSaleReason.choices)
    reason_detail = models.CharField(_("details"), max_length=500, blank=True)
    amount_cny = models.DecimalField(_("refund amount"), **MONEY, default=0)
    # On an order on credit a refund first cancels what is still owed on it: what it cancelled, set when
    # it completes; the rest of the amount is money to pay back to the customer.
    credit_cleared_cny = models.DecimalField(
        _("cleared what was owed"),
        **MONEY,
        default=0,
        editable=False,
        help_text=_("What of the refund cancelled what was still owed on the order (credit)."),
    )
    return_tracking_no = models.CharField(_("return tracking number"), max_length=40, blank=True)
    # What an exchange sent back to the customer, noted when it completes (the flow has no shipping step
    # of its own: the replacement goes out as the exchange is done). Blank on refunds and returns.
    replacement_sku = models.ForeignKey(
        Sku,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("replacement SKU"),
    )
    replacement_item = models.CharField(
        _("replacement item"),
        max_length=200,
        blank=True,
        help_text=_("What was sent in exchange: the product and its variant."),
    )
    replacement_carrier = models.CharField(_("replacement carrier"), max_length=30, blank=True)
    replacement_tracking_no = models.CharField(_("replacement tracking number"), max_length=40, blank=True)
    resolution_note = models.CharField(_("resolution"), max_length=500, blank=True)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("after-sale")
        verbose_name_plural = _("after-sales")
        indexes = [
            models.Index(fields=["customer", "-requested_at"], name="aftersale_customer"),
            models.Index(fields=["status", "-requested_at"], name="aftersale_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cny__gte=0), name="aftersale_amount_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind=AfterSaleKind.EXCHANGE) | Q(amount_cny=0),
                name="aftersale_exchange_no_money",
            ),
            models.CheckConstraint(
                condition=Q(credit_cleared_cny__gte=0) & Q(credit_cleared_cny__lte=F("amount_cny")),
                name="aftersale_credit_cleared_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_AFTERSALE_STATUSES

    @property
    def paid_back_cny(self):  # type: ignore[no-untyped-def]
        """What of the refund goes back to the customer: all of it, but what cleared a debt on credit."""
        return self.amount_cny - self.credit_cleared_cny

    @property
    def has_replacement(self) -> bool:
        return bool(
            self.replacement_sku_id
            or self.replacement_item
            or self.replacement_carrier
            or self.replacement_tracking_no
        )


class AfterSaleLine(models.Model):
    aftersale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="aftersale_lines")
    quantity = models.PositiveIntegerField(_("quantity"))
    amount_cny = models.DecimalField(_("refund amount"), **MONEY, default=0)

    class Meta:
        verbose_name = _("after-sale line")
        verbose_name_plural = _("after-sale lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="aftersale_line_quantity_positive"),
            models.CheckConstraint(condition=Q(amount_cny__gte=0), name="aftersale_line_amount"),
            models.UniqueConstraint(fields=["aftersale", "line"], name="aftersale_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} ×{self.quantity}"


class CreditPayment(models.Model):
    """Money a credit customer paid against what they owe (回款). It settles their oldest debts first."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="credit_payments",
        verbose_name=_("customer"),
    )
    amount_cny = models.DecimalField(_("amount"), **MONEY)
    method = models.CharField(_("payment method"), max_length=20, choices=PaymentMethod.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("payment received")
        verbose_name_plural = _("payments received")
        indexes = [models.Index(fields=["customer", "-received_at"], name="creditpayment_customer")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cny__gt=0), name="creditpayment_positive"),
            models.CheckConstraint(condition=~Q(method="credit"), name="creditpayment_not_on_credit"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_cny}"


class CustomerCategorySpend(models.Model):
    """What a customer spent per top-level category, net of refunded lines: kept with the customer's
    other figures, and the source of their top category."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    spent_cny = models.DecimalField(**MONEY, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "category"], name="category_spend_unique"),
        ]
        # A customer's top category, read in order: by the order services after each change, and by the
        # rebuild for every customer at once without sorting ~2M rows (5.5 s → 2.4 s at 10M orders).
        indexes = [
            models.Index(
                fields=["customer", "-spent_cny", "category"],
                name="category_spend_top",
                condition=Q(spent_cny__gt=0),
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.category_id}: {self.spent_cny}"
