"""Demo surveys: an after-order satisfaction survey (NPS, CSAT, choices, comments) and an after-sales
one, with links sent to some customers a day or two after their parcel arrived, about six in ten opened
and four in ten answered, scores leaning to the happy side as a decent shop's do. Bulk inserts: the
links, answers and responses of a few thousand customers take well under a second."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from kebu.engagement.models import Answer, Question, Survey, SurveyInvitation, SurveyResponse
from kebu.orders.models import Order, OrderStatus

ORDER_SURVEY = "订单满意度回访"
AFTERSALE_SURVEY = "售后服务评价"
MAX_LINKS = 800
# Shares of each score, 0–10 and 1–5: many promoters, a tail of unhappy customers.
NPS_WEIGHTS = [2, 1, 1, 2, 2, 4, 5, 9, 15, 22, 37]
CSAT_WEIGHTS = [4, 5, 12, 34, 45]
COMMENTS = (
    "包装很用心，发货也快，下次还来。",
    "面霜用着不错，就是物流慢了两天。",
    "客服小姐姐很耐心，点赞！",
    "价格有点贵，希望多搞活动。",
    "快递盒子压坏了，还好东西没事。",
    "赠品很惊喜，谢谢老板。",
    "颜色和图片有色差，建议实拍。",
    "回购第三次了，品质稳定。",
    "希望能开发票更方便一些。",
    "尺码偏小，建议标注清楚。",
    "茶叶很香，家里老人很喜欢。",
    "退换货流程有点麻烦。",
)
CHANNELS = ["淘宝", "抖音", "小红书", "朋友推荐", "微信群"]
VALUES = ["价格", "质量", "物流速度", "客服态度", "包装"]


def _survey(
    title: str,
    intro: str,
    thanks: str,
    days: int,
    questions: list[tuple[str, str, bool, list[str]]],
    now: datetime,
    created_by_id: int | None,
) -> tuple[Survey, list[Question]]:
    survey = Survey.objects.create(
        title=title,
        intro=intro,
        thanks=thanks,
        link_valid_days=days,
        created_at=now - timedelta(days=120),
        created_by_id=created_by_id,
    )
    made = Question.objects.bulk_create(
        Question(survey=survey, position=position, kind=kind, text=text, required=required, choices=choices)
        for position, (kind, text, required, choices) in enumerate(questions)
    )
    return survey, made


def _answers(rng: random.Random, questions: list[Question], response: SurveyResponse) -> list[Answer]:
    rows = []
    mood = rng.random()  # one customer's answers agree with each other
    for question in questions:
        if question.kind == "nps":
            score = rng.choices(range(11), weights=NPS_WEIGHTS)[0]
            if mood < 0.12:
                score = min(score, rng.randint(0, 6))
            rows.append(Answer(response=response, question=question, score=score))
        elif question.kind == "csat":
            score = rng.choices(range(1, 6), weights=CSAT_WEIGHTS)[0]
            if mood < 0.12:
                score = min(score, rng.randint(1, 3))
            rows.append(Answer(response=response, question=question, score=score))
        elif question.kind == "single":
            rows.append(Answer(response=response, question=question, choices=[rng.choice(question.choices)]))
        elif question.kind == "multiple":
            chosen = set(rng.sample(question.choices, rng.randint(1, 3)))
            rows.append(
                Answer(
                    response=response, question=question, choices=[o for o in question.choices if o in chosen]
                )
            )
        elif rng.random() < 0.4:
            rows.append(Answer(response=response, question=question, text=rng.choice(COMMENTS)))
    return rows


@transaction.atomic
def demo_surveys(*, rng: random.Random, now: datetime) -> int:
    """Add the demo surveys and their links and answers; nothing if they are there already. Returns the
    rows made (surveys, questions, links, responses, answers)."""
    if Survey.objects.filter(title=ORDER_SURVEY).exists():
        return 0
    delivered = list(
        Order.objects.filter(
            status__in=[OrderStatus.DELIVERED, OrderStatus.COMPLETED],
            ordered_at__gte=now - timedelta(days=150),
            customer__archived_at__isnull=True,
        )
        .filter(Q(delivered_at__gte=now - timedelta(days=90)) & Q(delivered_at__lte=now - timedelta(days=1)))
        .order_by("customer_id", "-delivered_at")
        .values_list("customer_id", "pk", "delivered_at", "created_by_id", "customer__owner_id")
    )
    latest: dict[int, tuple] = {}
    for row in delivered:
        latest.setdefault(row[0], row)
    picked = rng.sample(sorted(latest.values()), min(MAX_LINKS, max(1, len(latest) // 3))) if latest else []
    staff = next((row[4] or row[3] for row in picked if row[4] or row[3]), None)
    order_survey, order_questions = _survey(
        ORDER_SURVEY,
        "感谢您的购买！耽误您一分钟，告诉我们这次购物的感受，我们会认真看每一条意见。",
        "谢谢您的反馈！祝您生活愉快。",
        14,
        [
            ("nps", "您有多大可能把本店推荐给朋友或家人？", True, []),
            ("csat", "您对这次购物的整体满意度如何？", True, []),
            ("single", "您是从哪里知道我们的？", False, CHANNELS),
            ("multiple", "您最看重我们哪些方面？（可多选）", False, VALUES),
            ("text", "还有什么想对我们说的？", False, []),
        ],
        now,
        staff,
    )
    _after, after_questions = _survey(
        AFTERSALE_SURVEY,
        "您的售后问题处理完了，想听听您的评价。",
        "谢谢！我们会继续改进售后服务。",
        7,
        [
            ("csat", "您对这次售后处理满意吗？", True, []),
            ("single", "您的问题解决了吗？", True, ["完全解决了", "部分解决", "没有解决"]),
            ("text", "您希望我们哪里做得更好？", False, []),
        ],
        now,
        staff,
    )
    made = 2 + len(order_questions) + len(after_questions)
    invitations = []
    for customer_id, order_id, delivered_at, created_by_id, owner_id in picked:
        sent = min(delivered_at + timedelta(hours=rng.randint(20, 60)), now - timedelta(hours=1))
        opened = sent + timedelta(minutes=rng.randint(3, 60 * 30)) if rng.random() < 0.6 else None
        if opened is not None and opened > now:
            opened = None
        answered = opened + timedelta(minutes=rng.randint(1, 8)) if opened and rng.random() < 0.68 else None
        if answered is not None and answered > now:
            answered = None
        invitations.append(
            SurveyInvitation(
                survey=order_survey,
                customer_id=customer_id,
                order_id=order_id,
                nonce=secrets.token_urlsafe(16),
                created_at=sent,
                expires_at=sent + timedelta(days=14),
                opened_at=opened,
                responded_at=answered,
                created_by_id=owner_id or created_by_id,
            )
        )
    invitations = SurveyInvitation.objects.bulk_create(invitations, batch_size=500)
    responses = SurveyResponse.objects.bulk_create(
        (
            SurveyResponse(
                invitation=inv,
                survey=order_survey,
                customer_id=inv.customer_id,
                submitted_at=inv.responded_at,
            )
            for inv in invitations
            if inv.responded_at is not None
        ),
        batch_size=500,
    )
    answers = [answer for response in responses for answer in _answers(rng, order_questions, response)]
    Answer.objects.bulk_create(answers, batch_size=1000)
    return made + len(invitations) + len(responses) + len(answers)
