"""Every touch with a customer: contact records (沟通记录), tickets and complaints (工单/投诉), feedback and
reviews (评价), preferences, surveys, and follow-ups and reminders (回访/提醒).

Tables, constraints and indexes only; the rules live in ``services/``. The customer's timeline is read
from these tables and the others (orders, after-sales, profile events) by ``selectors.timeline``: it
is a view over the records themselves, not a second copy of them that could drift.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kebu.core.fields import EncryptedTextField


class ContactChannel(models.TextChoices):
    PHONE = "phone", _("Phone call")
    WECHAT = "wechat", pgettext_lazy("channel", "WeChat")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    MARKETPLACE = "marketplace", _("Marketplace chat (旺旺 etc.)")
    IN_PERSON = "in_person", _("In person")
    OTHER = "other", _("Other")


class Direction(models.TextChoices):
    INBOUND = "in", _("Customer contacted us")
    OUTBOUND = "out", _("We contacted the customer")


class ContactRecord(models.Model):
    """One conversation with a customer, on any channel, and what was agreed to do next. A next step
    with a due date is also a follow-up (``FollowUp.contact``), so it shows on the assignee's today page."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="contacts",
        verbose_name=_("customer"),
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=12, choices=ContactChannel.choices)
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, default=Direction.OUTBOUND
    )
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    # Conversations hold what customers tell a shop about themselves: encrypted like the profile's notes.
    summary = EncryptedTextField(_("summary"), validators=[MaxLengthValidator(4000)])
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    next_step_due = models.DateField(_("next step due"), null=True, blank=True)
    ticket = models.ForeignKey(
        "Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("ticket"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("logged by"),
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("contact record")
        verbose_name_plural = _("contact records")
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="contact_customer"),
            models.Index(fields=["created_by", "-occurred_at"], name="contact_staff"),
            # The staff contact list: everyone's, newest first, and by channel (0003_contacts_indexes).
            models.Index(fields=["-occurred_at", "-id"], name="contact_recent"),
            models.Index(fields=["channel", "-occurred_at"], name="contact_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d}"


class Attachment(models.Model):
    """A file kept with a contact record or a ticket (a chat screenshot, a photo of a broken item, a
    PDF). Stored under a generated name; the name the user gave is only shown. Its type is read from the
    file's first bytes, never trusted from the name."""

    contact = models.ForeignKey(
        ContactRecord, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    ticket = models.ForeignKey(
        "Ticket", on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to="attachments/%Y/%m/", max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("type"), max_length=60)
    size_bytes = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(ticket__isnull=False), name="attachment_has_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.original_name


class TicketKind(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")
    REQUEST = "request", _("Request or question")


class TicketCategory(models.TextChoices):
    QUALITY = "quality", _("Product quality")
    LOGISTICS = "logistics", _("Delivery and logistics")
    ATTITUDE = "attitude", _("Service attitude")
    PRICE = "price", _("Price")
    AFTERSALE = "aftersale", _("After-sales")
    OTHER = "other", _("Other")


class TicketPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting for the customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_TICKET_STATUSES = (TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.WAITING)


class TicketResult(models.TextChoices):
    REFUND = "refund", _("Refunded")
    RETURN = "return", _("Returned and refunded")
    EXCHANGE = "exchange", _("Exchanged")
    RESEND = "resend", _("Sent again")
    COMPENSATION = "compensation", _("Compensated (coupon, cash)")
    EXPLAINED = "explained", _("Explained, nothing to fix")
    UNRESOLVED = "unresolved", _("Could not be resolved")


class SlaPolicy(models.Model):
    """How soon a ticket of a category must be answered and resolved, in hours. The shop edits these."""

    category = models.CharField(_("category"), max_length=12, choices=TicketCategory.choices, unique=True)
    first_response_hours = models.PositiveSmallIntegerField(_("first response within (hours)"), default=4)
    resolution_hours = models.PositiveSmallIntegerField(_("resolution within (hours)"), default=48)

    class Meta:
        ordering = ["category"]
        verbose_name = _("service level")
        verbose_name_plural = _("service levels")
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_hours__gt=0)
                & Q(resolution_hours__gte=models.F("first_response_hours")),
                name="sla_hours_sensible",
            ),
        ]

    def __str__(self) -> str:
        return self.get_category_display()


class Ticket(models.Model):
    """A complaint or request (工单/投诉), from new to closed, with the SLA times it was given."""

    number = models.CharField(_("ticket number"), max_length=20, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("customer"),
        db_index=False,
    )
    kind = models.CharField(
        _("type"), max_length=10, choices=TicketKind.choices, default=TicketKind.COMPLAINT
    )
    category = models.CharField(_("category"), max_length=12, choices=TicketCategory.choices)
    priority = models.CharField(
        _("priority"), max_length=8, choices=TicketPriority.choices, default=TicketPriority.NORMAL
    )
    subject = models.CharField(_("subject"), max_length=120)
    description = EncryptedTextField(_("description"), blank=True, validators=[MaxLengthValidator(4000)])
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("order"),
    )
    lines = models.ManyToManyField(
        "orders.OrderLine", blank=True, related_name="tickets", verbose_name=_("order lines")
    )
    # A return or refund raised from this complaint; the after-sale sees its tickets as ``.tickets``.
    aftersales = models.ManyToManyField(
        "orders.AfterSale", blank=True, related_name="tickets", verbose_name=_("after-sales")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=TicketStatus.choices, default=TicketStatus.NEW
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    first_response_due_at = models.DateTimeField(_("first response due"))
    due_at = models.DateTimeField(_("resolution due"))
    # The resolution due time the ticket was opened with; nothing moves it. A reopen gives the queue a
    # fresh ``due_at`` to work to, but resolution time runs from ``opened_at``, so the SLA figures compare
    # against this one. Empty on rows inserted without it (the demo's bulk insert): ``due_at`` stands in.
    first_due_at = models.DateTimeField(_("original resolution due"), null=True, blank=True, editable=False)
    first_responded_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    resolution = models.TextField(_("resolution"), blank=True, validators=[MaxLengthValidator(4000)])
    result = models.CharField(_("result"), max_length=14, choices=TicketResult.choices, blank=True)
    satisfaction = models.PositiveSmallIntegerField(
        _("customer satisfaction"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("1 (very unhappy) to 5 (very happy), asked at close."),
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        permissions = [("view_all_tickets", _("See every ticket and the service figures"))]
        indexes = [
            models.Index(fields=["customer", "-opened_at"], name="ticket_customer"),
            models.Index(
                fields=["assignee", "due_at"],
                name="ticket_queue",
                condition=Q(status__in=["new", "in_progress", "waiting"]),
            ),
            models.Index(
                fields=["due_at"],
                name="ticket_open_due",
                condition=Q(status__in=["new", "in_progress", "waiting"]),
            ),
            models.Index(fields=["-opened_at", "-id"], name="ticket_opened"),
            # The ticket list's filters over every ticket (the "all" tab), newest first.
            models.Index(fields=["status", "-opened_at", "-id"], name="ticket_status"),
            models.Index(fields=["category", "-opened_at", "-id"], name="ticket_category"),
            models.Index(fields=["priority", "-opened_at", "-id"], name="ticket_priority"),
            models.Index(fields=["assignee", "-opened_at", "-id"], name="ticket_assignee"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="ticket_satisfaction_range",
            ),
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("opened_at")), name="ticket_due_after_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TICKET_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()


class TicketEvent(models.Model):
    """One step of a ticket's history: opened, status changed, assigned, a note. Feeds the ticket page
    and the figures (first response, resolution)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=20)  # opened, status, assigned, note, linked
    from_value = models.CharField(max_length=40, blank=True)
    to_value = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True, validators=[MaxLengthValidator(4000)])
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticketevent_ticket")]

    def __str__(self) -> str:
        return self.kind


class FeedbackSource(models.TextChoices):
    ENTERED = "entered", _("Entered by staff")
    IMPORTED = "imported", _("Imported from a marketplace")
    SURVEY = "survey", _("From a survey")


class Feedback(models.Model):
    """A rating and comment on an order or a product (评价), entered by staff or imported from a
    marketplace's review export. An imported review is matched again by its store and review id."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="feedback",
        verbose_name=_("customer"),
        db_index=False,
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="feedback"
    )
    product = models.ForeignKey(
        "orders.Product",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback",
        db_index=False,
    )
    rating = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)], help_text=_("1 to 5 stars.")
    )
    comment = models.TextField(_("comment"), blank=True, validators=[MaxLengthValidator(2000)])
    source = models.CharField(
        _("source"), max_length=10, choices=FeedbackSource.choices, default=FeedbackSource.ENTERED
    )
    store = models.ForeignKey(
        "orders.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    external_id = models.CharField(_("review id"), max_length=64, blank=True)
    reviewed_at = models.DateTimeField(_("reviewed at"), default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        indexes = [
            models.Index(fields=["customer", "-reviewed_at"], name="feedback_customer"),
            models.Index(fields=["product", "-reviewed_at"], name="feedback_product"),
            models.Index(fields=["-reviewed_at", "-id"], name="feedback_reviewed"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_range"),
            models.UniqueConstraint(
                fields=["store", "external_id"], condition=~Q(external_id=""), name="feedback_unique_external"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.comment[:30]}"


class PriceBand(models.TextChoices):
    BUDGET = "budget", _("Budget")
    MID = "mid", _("Mid-range")
    PREMIUM = "premium", _("Premium")


class Preference(models.Model):
    """What the customer told the shop they like and how to reach them. What Kebu infers from their
    orders is computed by ``selectors.preferences_inferred`` and shown beside it, never stored here."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, related_name="preference", primary_key=True
    )
    categories = models.ManyToManyField(
        "orders.Category", blank=True, related_name="+", verbose_name=_("favourite categories")
    )
    brands = models.ManyToManyField(
        "orders.Brand", blank=True, related_name="+", verbose_name=_("favourite brands")
    )
    colours = models.JSONField(_("colours"), default=list, blank=True)
    sizes = models.JSONField(_("sizes"), default=list, blank=True)
    styles = models.JSONField(_("styles"), default=list, blank=True)
    price_band = models.CharField(_("price band"), max_length=8, choices=PriceBand.choices, blank=True)
    preferred_channel = models.CharField(
        _("preferred contact channel"), max_length=12, choices=ContactChannel.choices, blank=True
    )
    contact_from = models.TimeField(_("contact from"), null=True, blank=True)
    contact_until = models.TimeField(_("contact until"), null=True, blank=True)
    do_not_disturb = models.BooleanField(
        _("do not disturb"), default=False, help_text=_("No calls or messages except about an open order.")
    )
    notes = models.CharField(_("other preferences"), max_length=500, blank=True)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return str(self.customer_id)


class QuestionKind(models.TextChoices):
    NPS = "nps", _("Recommend (NPS, 0–10)")
    CSAT = "csat", _("Satisfaction (CSAT, 1–5)")
    SINGLE = "single", _("One choice")
    MULTIPLE = "multiple", _("Several choices")
    TEXT = "text", _("Text")


class Survey(models.Model):
    """A short questionnaire sent to customers as personal links (no login)."""

    title = models.CharField(_("title"), max_length=120)
    intro = models.TextField(_("introduction"), blank=True, validators=[MaxLengthValidator(1000)])
    thanks = models.CharField(_("thank-you message"), max_length=300, blank=True)
    link_valid_days = models.PositiveSmallIntegerField(_("links valid for (days)"), default=14)
    is_active = models.BooleanField(_("accepting answers"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            models.CheckConstraint(
                condition=Q(link_valid_days__gte=1, link_valid_days__lte=365), name="survey_link_days_range"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("type"), max_length=10, choices=QuestionKind.choices)
    text = models.CharField(_("question"), max_length=300)
    required = models.BooleanField(_("required"), default=True)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("For choice questions."))

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")

    def __str__(self) -> str:
        return self.text


class SurveyInvitation(models.Model):
    """A personal link for one customer. The URL carries a signed token naming this row and its nonce;
    the row says whether it was answered, and when it expires."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations", db_index=False)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_invitations", db_index=False
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    nonce = models.CharField(max_length=32, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    opened_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("survey link")
        verbose_name_plural = _("survey links")
        indexes = [
            models.Index(fields=["survey", "-created_at"], name="invitation_survey"),
            models.Index(fields=["customer", "-created_at"], name="invitation_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}:{self.customer_id}"


class SurveyResponse(models.Model):
    """The one answer an invitation may get: the unique invitation makes a second submit fail."""

    invitation = models.OneToOneField(SurveyInvitation, on_delete=models.CASCADE, related_name="response")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses", db_index=False)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_responses", db_index=False
    )
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["survey", "-submitted_at"], name="response_survey"),
            models.Index(fields=["customer", "-submitted_at"], name="response_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}:{self.customer_id}"


class Answer(models.Model):
    response = models.ForeignKey(SurveyResponse, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers", db_index=False)
    score = models.SmallIntegerField(null=True, blank=True)  # NPS 0–10, CSAT 1–5
    choices = models.JSONField(default=list, blank=True)  # the chosen options' texts
    text = models.TextField(blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_once_per_question"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=10), name="answer_score_range"
            ),
        ]
        indexes = [models.Index(fields=["question", "score"], name="answer_question")]

    def __str__(self) -> str:
        return f"{self.question_id}"


class FollowUpKind(models.TextChoices):
    MANUAL = "manual", _("Follow-up")
    NEXT_STEP = "next_step", _("Next step of a conversation")
    AFTER_DELIVERY = "after_delivery", _("Call after delivery")
    REPURCHASE = "repurchase", _("Repurchase reminder")
    BIRTHDAY = "birthday", _("Birthday")
    DATE_FIELD = "date_field", _("Date in the profile (membership renewal …)")
    CREDIT_DUE = "credit_due", _("Credit payment due")
    TICKET = "ticket", _("Ticket due")


class FollowUpPlan(models.Model):
    """A rule the periodic task turns into follow-ups: "call 3 days after delivery", "repurchase
    reminder when a product's usage cycle runs out", birthdays, a date custom field such as 会员到期日,
    credit due dates. ``days`` is after the event for deliveries and before it for the others."""

    kind = models.CharField(_("type"), max_length=16, choices=FollowUpKind.choices)
    name = models.CharField(
        _("name"),
        max_length=80,
        help_text=_(
            "A plan Kebu made is shown by its name in each reader's language until you rename it; then as "
            "you wrote it."
        ),
    )
    days = models.SmallIntegerField(
        _("days"),
        default=0,
        help_text=_("After delivery; before a birthday, renewal, due date or cycle end."),
    )
    custom_field = models.CharField(
        _("custom field"), max_length=40, blank=True, help_text=_("The date custom field, for that type.")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assign to"),
        help_text=_("Empty: the customer's owner."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("follow-up plan")
        verbose_name_plural = _("follow-up plans")

    def __str__(self) -> str:
        return self.shown_name

    @property
    def shown_name(self) -> str:
        """The name in the active language while it is still Kebu's default, else as the shop wrote it
        (``kebu.engagement.titles.plan_name``)."""
        from kebu.engagement.titles import plan_name

        return plan_name(kind=self.kind, name=self.name)


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class FollowUp(models.Model):
    """Something to do for a customer on a day (回访, a reminder). Those a plan generates carry a
    ``key`` naming their cause ("birthday:42:2026"), unique, so generating twice makes one."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="followups",
        verbose_name=_("customer"),
        db_index=False,
    )
    kind = models.CharField(
        _("type"), max_length=16, choices=FollowUpKind.choices, default=FollowUpKind.MANUAL
    )
    plan = models.ForeignKey(
        FollowUpPlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="followups"
    )
    key = models.CharField(max_length=80, null=True, blank=True, unique=True, editable=False)
    title = models.CharField(_("what to do"), max_length=200)
    title_parts = models.JSONField(
        _("title, as made by a plan"),
        default=dict,
        blank=True,
        editable=False,
        help_text=_(
            "What a reminder's title is written from, so it reads in each reader's language. Empty for a "
            "follow-up a person wrote."
        ),
    )
    note = models.TextField(_("note"), blank=True, validators=[MaxLengthValidator(2000)])
    due_on = models.DateField(_("due"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="followups",
        verbose_name=_("assignee"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN
    )
    snoozed_count = models.PositiveSmallIntegerField(default=0, editable=False)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="followups"
    )
    contact = models.ForeignKey(
        ContactRecord, on_delete=models.CASCADE, null=True, blank=True, related_name="followups"
    )
    outcome = models.CharField(_("outcome"), max_length=500, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, editable=False, related_name="+"
    )

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        indexes = [
            models.Index(fields=["assignee", "due_on"], name="followup_today", condition=Q(status="open")),
            models.Index(fields=["customer", "-due_on"], name="followup_customer"),
            # The today page's "done" tab: one's own, latest first.
            models.Index(fields=["assignee", "-done_at"], name="followup_done", condition=Q(status="done")),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def shown_title(self) -> str:
        """The title in the active language: a reminder's written again from its parts, a person's
        as they wrote it (and a reminder's stored one when its parts cannot be read)."""
        if self.title_parts:
            from kebu.engagement.titles import reminder_title

            return reminder_title(self.title_parts) or self.title
        return self.title


class ReminderDay(models.Model):
    """A day the reminder task has generated follow-ups for. After downtime the task goes on from the
    last day done, so the days missed are caught up; the follow-ups' unique keys make a repeat harmless."""

    day = models.DateField(unique=True)
    created = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)


class DigestSubscription(models.Model):
    """A staff member who asked for the daily email of their overdue and today's follow-ups, in the
    language they chose when they asked. No row: no email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="followup_digest"
    )
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("follow-up digest subscription")
        verbose_name_plural = _("follow-up digest subscriptions")

    def __str__(self) -> str:
        return str(self.user_id)


class DigestSent(models.Model):
    """One digest for one staff member on one day, recorded before the mail is handed to the server: the
    unique pair makes a second run (the task twice, a restarted worker) send nothing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    followups = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-day", "user_id"]
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digest_once_per_day")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.day}"
