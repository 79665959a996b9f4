"""The audit log (审计日志): one append-only, hash-chained table, and the head of its chain.

Rows are written by :func:`kebu.audit.services.audit_record` only; the ORM refuses to change or
delete them, and on PostgreSQL a trigger refuses it too (migration 0002). Neither stops someone with
the database's owner password: the keyed hash chain is what makes such an edit visible
(``kebu audit verify``)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AuditAction(models.TextChoices):
    """Every action the log knows a label for. ``audit_record`` also takes other well-formed names
    (``area.verb``), shown by their code, so a new feature never has to wait for this list."""

    CUSTOMER_CREATE = "customer.create", _("Customer created")
    CUSTOMER_UPDATE = "customer.update", _("Customer changed")
    CUSTOMER_ARCHIVE = "customer.archive", _("Customer archived")
    CUSTOMER_RESTORE = "customer.restore", _("Customer restored")
    CUSTOMER_DELETE = "customer.delete", _("Customer deleted")
    CUSTOMER_REVEAL = "customer.reveal", _("Contact detail revealed")
    CUSTOMER_EXPORT = "customer.export", _("Customers exported")
    # An import's start is recorded under its kind, as an export is; its end and undo under one name.
    # (Before this, order and product imports were recorded as customer.import too: the entry's target,
    # the import, says which it was.)
    CUSTOMER_IMPORT = "customer.import", _("Customer import started")
    ORDER_IMPORT = "order.import", _("Order import started")
    PRODUCT_IMPORT = "product.import", _("Product import started")
    REVIEW_IMPORT = "review.import", _("Review import started")
    IMPORT_FINISH = "import.finish", _("Import finished")
    IMPORT_UNDO = "import.undo", _("Import undone")
    # The report of an import (or of its check) holds the rejected rows' cells and, for customers already
    # in Kebu, what it changed on each: personal data leaving, as an export is.
    IMPORT_REPORT = "import.report", _("Import report downloaded")
    IMPORT_CHECK_REPORT = "import.check_report", _("Check report downloaded")
    ORDER_EXPORT = "order.export", _("Orders exported")
    PRODUCT_EXPORT = "product.export", _("Products exported")
    CUSTOMER_ASSIGN = "customer.assign", _("Customer assigned")
    CUSTOMER_STAGE = "customer.stage", _("Lifecycle stage moved by the shop's rules")
    CUSTOMER_CHURN = "customer.churn", _("Customers marked churned")
    ORDER_CREATE = "order.create", _("Order created")
    ORDER_PAY = "order.pay", _("Order paid")
    ORDER_SHIP = "order.ship", _("Order shipped")
    ORDER_DELIVER = "order.deliver", _("Order delivered")
    ORDER_COMPLETE = "order.complete", _("Order completed")
    ORDER_CANCEL = "order.cancel", _("Order cancelled")
    ORDER_UPDATE = "order.update", _("Order changed")
    AFTERSALE_REQUEST = "aftersale.request", _("After-sale requested")
    AFTERSALE_APPROVE = "aftersale.approve", _("After-sale approved")
    AFTERSALE_RECEIVE = "aftersale.receive", _("Returned goods received")
    AFTERSALE_COMPLETE = "aftersale.complete", _("After-sale completed (refund paid)")
    AFTERSALE_REPLACEMENT = "aftersale.replacement", _("Exchange replacement corrected")
    AFTERSALE_REJECT = "aftersale.reject", _("After-sale rejected")
    AFTERSALE_CANCEL = "aftersale.cancel", _("After-sale withdrawn")
    CREDIT_CHANGE = "credit.change", _("Credit terms changed")
    CREDIT_PAYMENT = "credit.payment", _("Payment received on credit")
    CATALOGUE_CHANGE = "catalogue.change", _("Catalogue changed")
    SALES_SUMMARY_EXPORT = "orders.sales_summary_export", _("Sales summary downloaded")
    STORE_CREATE = "store.create", _("Store added")
    STORE_UPDATE = "store.update", _("Store changed")
    METRICS_RECOMPUTE = "metrics.recompute", _("Customer figures rebuilt")
    AUTH_LOGIN = "auth.login", _("Logged in")
    AUTH_LOGOUT = "auth.logout", _("Logged out")
    AUTH_LOGIN_FAILED = "auth.login_failed", _("Failed login")
    AUTH_LOCKOUT = "auth.lockout", _("Locked out after failed logins")
    AUTH_USER_CREATE = "auth.user_create", _("Staff account created")
    AUTH_USER_DELETE = "auth.user_delete", _("Staff account deleted")
    AUTH_ROLE_CHANGE = "auth.role_change", _("Role changed")
    AUTH_PERMISSION_CHANGE = "auth.permission_change", _("Permissions changed")
    AUTH_2FA_ENABLED = "auth.2fa_enabled", _("Two-factor sign-in turned on")
    AUTH_2FA_DISABLED = "auth.2fa_disabled", _("Two-factor sign-in turned off")
    AUTH_2FA_RECOVERY_CODE_USED = "auth.2fa_recovery_code_used", _("Signed in with a recovery code")
    AUTH_2FA_RECOVERY_CODES_RENEWED = "auth.2fa_recovery_codes_renewed", _("Recovery codes renewed")
    KEYS_ROTATE = "keys.rotate", _("Encryption keys rotated")
    SETTINGS_CHANGE = "settings.change", _("Shop settings changed")
    SCORE_SETTINGS = "insights.score_settings", _("Scoring settings changed")
    DASHBOARD_EXPORT = "insights.dashboard_export", _("Dashboard downloaded")
    AUDIT_EXPORT = "audit.export", _("Audit log exported")
    PREFERENCE_UPDATE = "preference.update", _("Customer preferences changed")
    CONTACT_CREATE = "contact.create", _("Contact recorded")
    TICKET_OPEN = "ticket.open", _("Ticket opened")
    TICKET_TRANSITION = "ticket.transition", _("Ticket status changed")
    TICKET_REOPEN = "ticket.reopen", _("Ticket reopened")
    TICKET_ASSIGN = "ticket.assign", _("Ticket assigned")
    TICKET_NOTE = "ticket.note", _("Ticket note added")
    TICKET_AFTERSALE_LINK = "ticket.aftersale_link", _("After-sale linked to a ticket")
    FEEDBACK_ADD = "feedback.add", _("Feedback added")
    FEEDBACK_IMPORT = "feedback.import", _("Review imported")
    FEEDBACK_IMPORT_UPDATE = "feedback.import_update", _("Imported review changed")
    FOLLOWUP_CREATE = "followup.create", _("Follow-up planned")
    FOLLOWUP_DONE = "followup.done", _("Follow-up done")
    FOLLOWUP_SNOOZE = "followup.snooze", _("Follow-up put off")
    FOLLOWUP_REASSIGN = "followup.reassign", _("Follow-up reassigned")
    FOLLOWUP_CANCEL = "followup.cancel", _("Follow-up cancelled")
    FOLLOWUP_DIGEST_ON = "followup.digest_on", _("Daily follow-up email turned on")
    FOLLOWUP_DIGEST_OFF = "followup.digest_off", _("Daily follow-up email turned off")
    SURVEY_CREATE = "survey.create", _("Survey created")
    SURVEY_UPDATE = "survey.update", _("Survey changed")
    SURVEY_CLOSE = "survey.close", _("Survey closed")
    SURVEY_REOPEN = "survey.reopen", _("Survey reopened")
    SURVEY_QUESTION_ADD = "survey.question_add", _("Survey question added")
    SURVEY_QUESTION_UPDATE = "survey.question_update", _("Survey question changed")
    SURVEY_QUESTION_REMOVE = "survey.question_remove", _("Survey question removed")
    SURVEY_QUESTION_MOVE = "survey.question_move", _("Survey question moved")
    SURVEY_INVITE = "survey.invite", _("Survey link made")
    SURVEY_INVITE_BATCH = "survey.invite_batch", _("Survey links made for several customers")
    SURVEY_RESPOND = "survey.respond", _("Survey answered")
    SURVEY_LINKS_EXPORT = "survey.links_export", _("Survey links downloaded")
    SURVEY_RESPONSES_EXPORT = "survey.responses_export", _("Survey answers downloaded")


ACTION_LABELS: dict[str, Any] = dict(AuditAction.choices)


class AppendOnlyError(Exception):
    """Something tried to change, delete or bypass the chain of the append-only audit log."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Reads only: bulk writes would bypass the chain, bulk edits and deletes would break it."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(_("Audit entries cannot be changed."))

    def delete(self) -> NoReturn:
        raise AppendOnlyError(_("Audit entries cannot be deleted."))

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(_("Audit entries are written one by one through audit_record."))

    def bulk_update(self, objs: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(_("Audit entries cannot be changed."))


class AuditEntry(models.Model):
    """One thing someone did. ``hash`` is an HMAC over the entry and ``prev_hash``, so editing,
    deleting or re-ordering entries breaks the chain at that point."""

    seq = models.BigIntegerField(
        _("number"), unique=True, editable=False, help_text=_("1, 2, 3… without gaps.")
    )
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True, editable=False)
    # No database constraint and DO_NOTHING: deleting a staff account must not rewrite (SET_NULL) the
    # rows it left, which would break their hashes. The id stays; actor_label keeps the name.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the (actor, seq) index serves
        related_name="+",
        editable=False,
    )
    actor_label = models.CharField(
        _("actor name"), max_length=150, blank=True, editable=False, help_text=_("The username at the time.")
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True, editable=False)
    action = models.CharField(_("action"), max_length=64, editable=False)
    target_type = models.CharField(
        _("target type"),
        max_length=100,
        blank=True,
        editable=False,
        help_text=_("Such as customers.customer."),
    )
    target_id = models.CharField(_("target id"), max_length=64, blank=True, editable=False)
    target_repr = models.CharField(_("target"), max_length=200, blank=True, editable=False)
    changes = models.JSONField(
        _("changes"), default=dict, blank=True, editable=False, help_text=_("Field → [before, after].")
    )
    data = models.JSONField(_("details"), default=dict, blank=True, editable=False)
    prev_hash = models.CharField(_("previous hash"), max_length=64, editable=False)
    hash = models.CharField(_("hash"), max_length=64, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        # Only "view": adding, changing and deleting are not things anyone may do to this table.
        default_permissions = ("view",)
        ordering = ("-seq",)
        # The list is shown newest first by seq; each filter has an index ending in seq behind it.
        indexes = [
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["actor", "seq"], name="audit_actor_seq"),
            models.Index(fields=["target_type", "target_id", "seq"], name="audit_target_seq"),
            models.Index(fields=["ip", "seq"], name="audit_ip_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or not getattr(self, "_chained", False):
            raise AppendOnlyError(_("Audit entries are written by audit_record and never changed."))
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(_("Audit entries cannot be deleted."))

    @property
    def action_label(self) -> str:
        return str(ACTION_LABELS.get(self.action, self.action))


class AuditHead(models.Model):
    """The last entry's number and hash, in one row that every writer locks: appends are serialised,
    so numbers have no gaps and each entry links to the one before. If the newest entries are deleted
    the head still remembers how far the log went."""

    seq = models.BigIntegerField(_("last number"), default=0)
    hash = models.CharField(_("last hash"), max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = _("audit log head")
        verbose_name_plural = _("audit log head")
        default_permissions = ()

    def __str__(self) -> str:
        return f"#{self.seq}"
