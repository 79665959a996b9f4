"""``{% customer_scores customer %}``: the customer page's card of scores: R, F and M explained, the
segment's meaning and action, value tier, expected orders and spend (or why there are none), P(active),
churn risk, credit risk with its reasons, and when it was computed. Nothing for those without
``insights.view_insights``. Two queries: the customer's row, and the latest run for its reasons."""

from __future__ import annotations

from typing import Any

from django import template

from kebu.insights import access
from kebu.insights.messages import message_shown
from kebu.insights.models import InsightKind
from kebu.insights.models.scores import SEGMENT_TEXT
from kebu.insights.selectors import scores as selectors
from kebu.insights.selectors.runs import insight_latest

register = template.Library()


@register.inclusion_tag("insights/scores/_customer_card.html", takes_context=True)
def customer_scores(context: template.Context, customer: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if not access.can_view(user, InsightKind.SCORES):
        return {"shown": False}
    score = selectors.customer_score(user=user, customer=customer)
    if score is None:
        return {"shown": True, "score": None, "customer": customer}
    run = insight_latest(kind=InsightKind.SCORES)
    clv_summary = (run.result.get("clv") or {}) if run is not None else {}
    meaning, action = SEGMENT_TEXT[score.segment]
    return {
        "shown": True,
        "customer": customer,
        "score": score,
        "explained": selectors.cell_explanations(score),
        "meaning": meaning,
        "action": action,
        "churn_text": selectors.churn_explanation(score),
        "clv_reason": message_shown(clv_summary.get("reason_parts"), clv_summary.get("reason", "")),
        "credit_reasons": selectors.credit_reason_texts(score.credit_reasons),
        "p_alive_pct": None if score.p_alive is None else round(100 * score.p_alive),
    }
