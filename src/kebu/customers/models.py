"""Customer profiles (客户档案). Tables, constraints and indexes; rules live in services.py."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kebu.core.fields import EncryptedTextField


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    FEMALE = "f", _("Female")
    MALE = "m", _("Male")


class CustomerType(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    WHOLESALER = "wholesaler", _("Wholesaler")
    RETAILER = "retailer", _("Retailer")
    COMPANY = "company", _("Company")


class Stage(models.TextChoices):
    LEAD = "lead", _("Lead")
    NEW = "new", pgettext_lazy("lifecycle stage", "New customer")
    CONVERTED = "converted", _("Converted")
    REPEAT = "repeat", _("Repeat buyer")
    MEMBER = "member", _("Member")
    VIP = "vip", _("VIP")
    CHURNED = "churned", _("Churned")


class SocialKind(models.TextChoices):
    WECHAT = "wechat", _("WeChat ID")
    QQ = "qq", _("QQ")
    WEIBO = "weibo", _("Weibo")
    DOUYIN = "douyin", _("Douyin")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
    TAOBAO = "taobao", _("Taobao / Wangwang nick")
    OTHER = "other", _("Other")


class ConsentChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    WECHAT = "wechat", pgettext_lazy("consent channel", "WeChat")


class ConsentMethod(models.TextChoices):
    VERBAL = "verbal", _("Told us (phone or in person)")
    WRITTEN = "written", _("Written or signed form")
    ONLINE = "online", _("Online form or checkbox")
    CHAT = "chat", _("In a chat message")
    IMPORT = "import", _("Imported from a sheet")
    OTHER = "other", _("Other")


class TagColor(models.TextChoices):
    BLUE = "blue", _("Blue")
    GREEN = "green", _("Green")
    RED = "red", _("Red")
    ORANGE = "orange", _("Orange")
    PURPLE = "purple", _("Purple")
    TEAL = "teal", _("Teal")
    PINK = "pink", _("Pink")
    GRAY = "gray", _("Gray")


class SourceChannel(models.Model):
    """Where customers come from. An editable list; the defaults are seeded by a migration."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("source channel")
        verbose_name_plural = _("source channels")

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=30, unique=True)
    color = models.CharField(_("colour"), max_length=10, choices=TagColor.choices, default=TagColor.BLUE)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


ACTIVE = Q(archived_at__isnull=True)


class CustomerQuerySet(models.QuerySet["Customer"]):
    def active(self) -> CustomerQuerySet:
        """Not archived."""
        return self.filter(ACTIVE)

    def archived(self) -> CustomerQuerySet:
        return self.filter(archived_at__isnull=False)


class Customer(models.Model):
    customer_no = models.CharField(
        _("customer number"), max_length=20, unique=True, help_text=_("Readable number such as C000123.")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    name_pinyin = models.CharField(_("name in pinyin"), max_length=200, blank=True, editable=False)
    name_initials = models.CharField(_("pinyin initials"), max_length=50, blank=True, editable=False)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True, default="")
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    birthday_is_lunar = models.BooleanField(
        _("lunar birthday"), default=False, help_text=_("The birthday is kept by the lunar calendar.")
    )
    email = EncryptedTextField(_("email"), max_length=254, blank=True)
    email_lookup = models.CharField(max_length=254, blank=True, editable=False, db_index=True)
    customer_type = models.CharField(
        _("customer type"), max_length=20, choices=CustomerType.choices, default=CustomerType.INDIVIDUAL
    )
    stage = models.CharField(_("lifecycle stage"), max_length=20, choices=Stage.choices, default=Stage.LEAD)
    source = models.ForeignKey(
        SourceChannel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("source channel"),
    )
    referrer = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referred",
        verbose_name=_("referred by"),
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_customers",
        verbose_name=_("owner"),
    )
    notes = EncryptedTextField(_("notes"), blank=True, validators=[MaxLengthValidator(5000)])
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Derived from the default address by the services, so that filtering by region needs no join.
    province = models.CharField(_("province"), max_length=30, blank=True, editable=False)
    city = models.CharField(_("city"), max_length=30, blank=True, editable=False)
    # Derived from the phones: the first one, for display in lists without a join.
    primary_phone = EncryptedTextField(_("phone"), max_length=32, blank=True, editable=False)

    # Credit (赊账) for wholesale customers; what they owe is kept by the order services.
    credit_limit_cny = models.DecimalField(
        _("credit limit"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty: this customer pays for each order and cannot buy on credit."),
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        _("payment terms (days)"), default=30, help_text=_("Days after an order on credit until it is due.")
    )
    receivable_cny = models.DecimalField(
        _("owed"), max_digits=14, decimal_places=2, default=0, editable=False
    )

    # Figures computed from the orders, in the same transaction as the order, refund or cancellation that
    # changes them (kebu.orders.services.metrics); ``kebu metrics recompute`` rebuilds them all.
    total_spent_cny = models.DecimalField(
        _("total spent"), max_digits=14, decimal_places=2, default=0, editable=False
    )
    order_count = models.PositiveIntegerField(_("orders"), default=0, editable=False)
    avg_order_cny = models.DecimalField(
        _("average order"), max_digits=14, decimal_places=2, null=True, blank=True, editable=False
    )
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True, editable=False)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True, editable=False)
    purchase_interval_days = models.DecimalField(
        _("average days between orders"),
        max_digits=7,
        decimal_places=1,
        null=True,
        blank=True,
        editable=False,
    )
    refund_count = models.PositiveIntegerField(
        _("refunded orders"), default=0, editable=False, help_text=_("Orders with at least one refund.")
    )
    refund_rate = models.DecimalField(
        _("refund rate"), max_digits=5, decimal_places=4, null=True, blank=True, editable=False
    )
    # No index of its own: cust_top_category serves the list, and a category is deleted too rarely for
    # the one scan that clears it to pay for an index every rebuild and every order writes (bench/).
    top_category = models.ForeignKey(
        "orders.Category",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        db_index=False,
        related_name="+",
        verbose_name=_("top category"),
    )

    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now, editable=False)
    # Not indexed: nothing looks customers up by who made or last saved them, and an index on each was
    # an entry to write for every customer made and (updated_by) moved on every save. Deleting a user
    # (rare: staff are deactivated) then reads the customer table once to clear them.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
        db_index=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("updated by"),
        db_index=False,
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        # Roles are groups holding these (kebu.accounts.roles); selectors and masking read them, never
        # a role's name, so an admin who edits a role changes what its members may do.
        permissions = [
            ("view_all_customers", _("See every customer")),
            ("view_team_customers", _("See the customers of their team")),
            ("view_contact", _("See contact details unmasked")),
            ("reveal_contact", _("Reveal one masked contact detail (audited)")),
            ("assign_customer", _("Assign and transfer customers to colleagues")),
            ("export_customer", _("Export customers")),
        ]
        # Every sort and filter the list offers has an index behind it. The list shows active customers,
        # so those indexes are partial (WHERE archived_at IS NULL): with archived_at as a leading column
        # instead, SQLite takes "archived_at IS NULL" for a selective equality and walks the whole active
        # set rather than the filter's own index (measured in bench/). Each ends in id, the tie-breaker.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="cust_active_created", condition=ACTIVE),
            models.Index(fields=["-updated_at", "-id"], name="cust_active_updated", condition=ACTIVE),
            models.Index(fields=["name_pinyin", "id"], name="cust_active_pinyin", condition=ACTIVE),
            models.Index(fields=["customer_type", "-created_at", "-id"], name="cust_type", condition=ACTIVE),
            models.Index(fields=["stage", "-created_at", "-id"], name="cust_stage", condition=ACTIVE),
            models.Index(fields=["source", "-created_at", "-id"], name="cust_source", condition=ACTIVE),
            models.Index(fields=["owner", "-created_at", "-id"], name="cust_owner", condition=ACTIVE),
            models.Index(
                fields=["province", "city", "-created_at", "-id"], name="cust_region", condition=ACTIVE
            ),
            models.Index(fields=["city", "-created_at", "-id"], name="cust_city", condition=ACTIVE),
            models.Index(fields=["birthday", "id"], name="cust_birthday", condition=ACTIVE),
            models.Index(fields=["total_spent_cny", "id"], name="cust_spent", condition=ACTIVE),
            models.Index(fields=["order_count", "id"], name="cust_orders", condition=ACTIVE),
            models.Index(fields=["avg_order_cny", "id"], name="cust_avg_order", condition=ACTIVE),
            models.Index(fields=["first_order_at", "id"], name="cust_first_order", condition=ACTIVE),
            models.Index(fields=["last_order_at", "id"], name="cust_last_order", condition=ACTIVE),
            models.Index(fields=["purchase_interval_days", "id"], name="cust_interval", condition=ACTIVE),
            models.Index(fields=["refund_rate", "id"], name="cust_refund_rate", condition=ACTIVE),
            models.Index(fields=["refund_count", "id"], name="cust_refund_count", condition=ACTIVE),
            models.Index(fields=["top_category", "id"], name="cust_top_category", condition=ACTIVE),
            models.Index(
                fields=["receivable_cny", "id"], name="cust_receivable", condition=Q(receivable_cny__gt=0)
            ),
            models.Index(
                fields=["archived_at"], name="cust_archived", condition=Q(archived_at__isnull=False)
            ),
            # Prefix search (kebu.core.lookups.Prefix) over active and archived customers alike.
            models.Index(fields=["name"], name="cust_name"),
            models.Index(fields=["name_pinyin"], name="cust_pinyin"),
            models.Index(fields=["name_initials"], name="cust_initials"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="cust_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_no} {self.name}".strip()

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def age(self) -> int | None:
        """Age in whole years (周岁), from the real (solar) date of birth, lunar birthday or not."""
        if not self.birthday:
            return None
        today = timezone.localdate()
        before_birthday = (today.month, today.day) < (self.birthday.month, self.birthday.day)
        return today.year - self.birthday.year - int(before_birthday)

    @property
    def birthday_lunar_label(self) -> str:
        """The lunar date of birth as people say it ("农历二月三十"), for a customer who keeps a lunar
        birthday; empty otherwise or outside the lunar calendar's table (1900–2099)."""
        from kebu.core.lunar import lunar_from_solar, lunar_label

        if not self.birthday or not self.birthday_is_lunar:
            return ""
        try:
            return lunar_label(lunar_from_solar(self.birthday))
        except ValueError:
            return ""

    @property
    def display_name(self) -> str:
        return self.name or self.customer_no


class CustomerPhone(models.Model):
    """One phone of a customer. ``number`` is encrypted, for display; search goes through the keyed
    blind-index lookup columns (:mod:`kebu.core.lookup`)."""

    class Label(models.TextChoices):
        MOBILE = "mobile", _("Mobile")
        HOME = "home", _("Home")
        WORK = "work", _("Work")
        OTHER = "other", _("Other")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones")
    number = EncryptedTextField(_("phone"), max_length=32, help_text=_("Normalised, e.g. +8613812345678."))
    number_lookup = models.CharField(max_length=64, editable=False)
    last4_lookup = models.CharField(max_length=64, editable=False)
    label = models.CharField(_("label"), max_length=10, choices=Label.choices, default=Label.MOBILE)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        indexes = [
            models.Index(fields=["number_lookup"], name="phone_lookup"),
            models.Index(fields=["last4_lookup"], name="phone_last4"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["customer", "number_lookup"], name="phone_unique_per_customer"),
        ]

    def __str__(self) -> str:
        return self.number


class Address(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    province = models.CharField(_("province"), max_length=30)
    city = models.CharField(_("city"), max_length=30, blank=True)
    district = models.CharField(_("district"), max_length=30, blank=True)
    # Blank for a region alone (广东省 深圳市): what a merchant often knows of a customer before any parcel.
    detail = EncryptedTextField(_("street address"), max_length=200, blank=True)
    receiver = models.CharField(_("receiver"), max_length=50, blank=True)
    receiver_phone = EncryptedTextField(_("receiver phone"), max_length=32, blank=True)
    is_default = models.BooleanField(_("default address"), default=False)

    class Meta:
        ordering = ["-is_default", "id"]
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_default=True), name="address_one_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.detail}"


class SocialAccount(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="socials")
    kind = models.CharField(_("type"), max_length=20, choices=SocialKind.choices)
    kind_label = models.CharField(_("type name"), max_length=30, blank=True, help_text=_("For “other”."))
    handle = EncryptedTextField(_("account"), max_length=100)
    handle_lookup = models.CharField(max_length=128, editable=False)

    class Meta:
        ordering = ["kind", "id"]
        verbose_name = _("social account")
        verbose_name_plural = _("social accounts")
        # The search box looks a handle up without knowing its kind: handle_lookup leads.
        indexes = [models.Index(fields=["handle_lookup", "kind"], name="social_lookup")]
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "handle_lookup"], name="social_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.handle}"


class Consent(models.Model):
    """The current marketing consent of a customer on one channel; its history is in the timeline."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    granted = models.BooleanField(_("consented"))
    method = models.CharField(_("how"), max_length=10, choices=ConsentMethod.choices)
    recorded_at = models.DateTimeField(_("when"), default=timezone.now)
    evidence = EncryptedTextField(_("evidence"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        verbose_name = _("marketing consent")
        verbose_name_plural = _("marketing consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_unique_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}={self.granted}"


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Single choice")
    MULTI = "multi", _("Multiple choice")
    BOOL = "bool", _("Yes / no")


# How a yes/no custom field's value may be written, in a form, the API, a sheet or a list's filter.
CUSTOM_YES = frozenset({"1", "true", "yes", "on", "是", "y"})
CUSTOM_NO = frozenset({"0", "false", "no", "off", "否", "n"})


def custom_yes_no(value: object) -> bool | None:
    """A yes/no custom field's value as written (是, no, 1 …); None when it is neither."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in CUSTOM_YES else False if text in CUSTOM_NO else None


class CustomField(models.Model):
    """A field an admin adds to every customer without code; values live in ``Customer.custom``."""

    key = models.SlugField(
        _("key"), max_length=40, unique=True, help_text=_("Letters, digits, underscores; never changes.")
    )
    label = models.CharField(_("label"), max_length=50)
    field_type = models.CharField(_("type"), max_length=10, choices=CustomFieldType.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("For choice fields."))
    required = models.BooleanField(_("required"), default=False)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")

    def __str__(self) -> str:
        return self.label


class SavedView(models.Model):
    """A named list view: filters, columns and sort; private to its owner or shared with the team."""

    name = models.CharField(_("name"), max_length=50)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    shared = models.BooleanField(_("shared with the team"), default=False)
    query = models.CharField(_("filters"), max_length=2000, blank=True)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    ordering = models.CharField(_("sort"), max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedview_unique_name")]

    def __str__(self) -> str:
        return self.name


class CustomerEvent(models.Model):
    """One line of a customer's timeline, written by ``customers.events`` in the same transaction."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="custevent_timeline")]

    def __str__(self) -> str:
        return self.kind
