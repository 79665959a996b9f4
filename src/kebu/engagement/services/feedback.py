"""Feedback and reviews (评价): a rating of 1 to 5 and a comment on an order or a product, entered by
staff or imported from a marketplace's review export.

An importer calls ``feedback_import_row`` once per row: a review is matched again by its store and the
marketplace's review id (unique in the table), so importing the same file twice, or two overlapping
exports, keeps one row per review and takes the later text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_is_visible
from kebu.engagement.models import Feedback, FeedbackSource
from kebu.orders.models import Order, OrderLine, Product, Store

ADD_FEEDBACK = "engagement.add_feedback"


def _add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


def _clean(
    *,
    customer: Customer,
    order: Order | None,
    product: Product | None,
    rating: Any,
    comment: str,
    reviewed_at: datetime | None,
) -> tuple[int, str, datetime]:
    errors: dict[str, list[Any]] = {}
    try:
        score = int(rating)
    except (TypeError, ValueError):
        score = 0
    if (
        isinstance(rating, bool)
        or not 1 <= score <= 5
        or str(rating).strip() not in {str(score), f"{score}.0"}
    ):
        _add(errors, "rating", _("The rating is a whole number of stars from 1 to 5."))
    text = (comment or "").strip()
    if len(text) > 2000:
        _add(errors, "comment", _("The comment has at most 2000 characters."))
    if order is not None and order.customer_id != customer.pk:
        _add(errors, "order", _("Order %(no)s is not this customer's.") % {"no": order.order_no})
    elif (
        order is not None
        and product is not None
        and not OrderLine.objects.filter(order=order, product=product).exists()
    ):
        _add(
            errors,
            "product",
            _("“%(name)s” is not in order %(no)s.") % {"name": product.name, "no": order.order_no},
        )
    now = timezone.now()
    when = reviewed_at or now
    if timezone.is_naive(when):
        _add(errors, "reviewed_at", _("Give the review time with its time zone."))
    elif when > now:
        _add(errors, "reviewed_at", _("The review time is in the future."))
    if errors:
        raise ValidationFailed(
            _("The feedback was not saved; correct the marked fields."), field_errors=errors
        )
    return score, text, when


@transaction.atomic
def feedback_add(
    *,
    actor: Any,
    customer: Customer,
    order: Order | None = None,
    product: Product | None = None,
    rating: Any,
    comment: str = "",
    reviewed_at: datetime | None = None,
) -> Feedback:
    """Record a customer's rating and comment, as staff heard or read it.

    Guarantees: the actor may see the customer (else ``NotFound``) and has ``add_feedback`` (else
    ``Forbidden``); the customer is not archived; the rating is 1–5; the order, if any, is the
    customer's, and the product, when both are given, is in that order; the review time is not in the
    future; an audit entry. Nothing is written when anything is refused."""
    if not customer_is_visible(user=actor, customer=customer):
        raise NotFound()
    if not (getattr(actor, "is_active", False) and actor.has_perm(ADD_FEEDBACK)):
        raise Forbidden(_("Your role may not record feedback."))
    if customer.archived_at is not None:
        message = _("This customer is archived: restore it first.")
        raise ValidationFailed(message, field_errors={"customer": [message]})
    score, text, when = _clean(
        customer=customer,
        order=order,
        product=product,
        rating=rating,
        comment=comment,
        reviewed_at=reviewed_at,
    )
    feedback = Feedback.objects.create(
        customer=customer,
        order=order,
        product=product,
        rating=score,
        comment=text,
        source=FeedbackSource.ENTERED,
        store=order.store if order is not None else None,
        reviewed_at=when,
        created_by=actor,
    )
    audit_record(
        action="feedback.add",
        actor=actor,
        target=feedback,
        data={"customer": customer.customer_no, "rating": score, "order": order.order_no if order else ""},
    )
    return feedback


@transaction.atomic
def feedback_import_row(
    *,
    actor: Any,
    store: Store,
    external_id: str,
    customer: Customer,
    order: Order | None = None,
    product: Product | None = None,
    rating: Any,
    comment: str = "",
    reviewed_at: datetime | None = None,
) -> tuple[Feedback, bool]:
    """One row of a marketplace review export: create the review, or update the one already imported
    with the same ``(store, external_id)``. Returns the review and whether it was created.

    Guarantees: the same checks as ``feedback_add`` (and the order, if any, is of ``store``); one row per
    (store, review id) even when two imports run at once (the unique constraint decides; the loser
    updates the winner's row); an unchanged row is not written again; an audit entry for each change."""
    review_id = (external_id or "").strip()
    if not review_id:
        message = _("The review id is missing.")
        raise ValidationFailed(message, field_errors={"external_id": [message]})
    if len(review_id) > 64:
        message = _("The review id has at most 64 characters.")
        raise ValidationFailed(message, field_errors={"external_id": [message]})
    if order is not None and order.store_id != store.pk:
        message = _("Order %(no)s is not of store %(store)s.") % {"no": order.order_no, "store": store}
        raise ValidationFailed(message, field_errors={"order": [message]})
    score, text, when = _clean(
        customer=customer,
        order=order,
        product=product,
        rating=rating,
        comment=comment,
        reviewed_at=reviewed_at,
    )
    values = {
        "customer": customer,
        "order": order,
        "product": product,
        "rating": score,
        "comment": text,
        "reviewed_at": when,
    }
    existing = Feedback.objects.filter(store=store, external_id=review_id).first()
    created = False
    if existing is None:
        try:
            with transaction.atomic():
                existing = Feedback.objects.create(
                    **values,
                    store=store,
                    external_id=review_id,
                    source=FeedbackSource.IMPORTED,
                    created_by=actor,
                )
                created = True
        except IntegrityError:
            # A concurrent import took this review id first: update its row instead.
            existing = Feedback.objects.get(store=store, external_id=review_id)
    if created:
        audit_record(
            action="feedback.import",
            actor=actor,
            target=existing,
            data={"store": store.name, "review": review_id},
        )
        return existing, True
    stored = {
        "customer": existing.customer_id,
        "order": existing.order_id,
        "product": existing.product_id,
        "rating": existing.rating,
        "comment": existing.comment,
        "reviewed_at": existing.reviewed_at,
    }
    wanted = {
        "customer": customer.pk,
        "order": order.pk if order is not None else None,
        "product": product.pk if product is not None else None,
        "rating": score,
        "comment": text,
        "reviewed_at": when,
    }
    changed = {name: values[name] for name in wanted if stored[name] != wanted[name]}
    if changed:
        Feedback.objects.filter(pk=existing.pk).update(**changed)
        existing.refresh_from_db()
        audit_record(
            action="feedback.import_update",
            actor=actor,
            target=existing,
            data={"store": store.name, "review": review_id, "fields": sorted(changed)},
        )
    return existing, False
