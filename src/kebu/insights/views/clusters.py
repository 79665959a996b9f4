"""The customer clusters page (客户聚类): what the last finished run found, for those who may see shop-wide
analyses. Descriptions are put into words here, in the reader's language, from the trait codes the run
stored. The charts are drawn by a static script (the CSP allows no inline script) from data handed over
with ``json_script``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kebu.customers.columns import yuan
from kebu.insights import access
from kebu.insights.clusters import cluster_description
from kebu.insights.models import InsightKind
from kebu.insights.views._common import freshness

KIND = InsightKind.CLUSTERS
# Category shares below this are left out of a cluster's mix line (the chart still shows them).
MIX_SHOWN_FROM = 0.05


def _category_names(result: dict[str, Any]) -> list[str]:
    names = []
    for category in result.get("categories") or []:
        if category.get("id") is None:
            names.append(_("Other categories"))
        else:
            names.append(category.get("name") or _("A deleted category"))
    return names


def _money(value: Any) -> str:
    return yuan(Decimal(str(value)).quantize(Decimal("0.01"))) if value is not None else ""


def _cluster_rows(result: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for cluster in result.get("clusters") or []:
        shares = cluster.get("category_shares") or []
        mix = sorted(
            (
                (names[i], share)
                for i, share in enumerate(shares)
                if i < len(names) and share >= MIX_SHOWN_FROM
            ),
            key=lambda item: -item[1],
        )
        rows.append(
            {
                "number": cluster["number"],
                "description": cluster_description(cluster, category_names=names),
                "size": cluster["size"],
                "share_pct": round(100 * float(cluster["share"]), 1),
                "recency_days": round(float(cluster["recency_days_median"])),
                "orders": cluster["orders_median"],
                "spent_median": _money(cluster["spent_median"]),
                "spent_mean": _money(cluster["spent_mean"]),
                "spent_total": _money(cluster["spent_total"]),
                "mix": [{"name": name, "pct": round(100 * share)} for name, share in mix],
            }
        )
    return rows


def _chart(result: dict[str, Any], names: list[str]) -> dict[str, Any]:
    clusters = result.get("clusters") or []
    labels = [_("Cluster %(number)d") % {"number": c["number"]} for c in clusters]
    return {
        "silhouette": {
            "k": [row["k"] for row in result.get("silhouette") or []],
            "score": [row["score"] for row in result.get("silhouette") or []],
            "chosen": result.get("k"),
        },
        "clusters": labels,
        "sizes": [c["size"] for c in clusters],
        "mix": [
            {"name": name, "values": [round(100 * float(c["category_shares"][i]), 1) for c in clusters]}
            for i, name in enumerate(names)
        ],
        "labels": {
            "silhouette": _("Silhouette"),
            "k": _("Number of clusters"),
            "customers": _("Customers"),
            "mix": _("Share of spend (%)"),
        },
    }


@login_required
@require_GET
def clusters_view(request: HttpRequest) -> HttpResponse:
    access.require_view(request.user, KIND)
    context = freshness(request, KIND)
    run = context["run"]
    result = (run.result if run is not None else None) or {}
    names = _category_names(result)
    context.update(
        result=result,
        clusters=_cluster_rows(result, names) if result.get("clusters") else [],
        chart=_chart(result, names) if result.get("clusters") else None,
        shop=result.get("shop"),
        shop_spent_median=_money((result.get("shop") or {}).get("spent_median")),
    )
    return render(request, "insights/clusters/page.html", context)
