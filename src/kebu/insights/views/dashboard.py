"""The dashboard (/insights/) and its spreadsheet: parse the filters, bring the tables up to date if that
is cheap, read the figures (``selectors.dashboard``), render cards, charts and tables.

The charts are drawn by ``static/insights/dashboard.js`` from data handed over with ``json_script`` (the
CSP allows no inline script); each point, bar and slice carries the address of the list it stands for,
which the script opens on a click."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kebu.core.forms import KebuForm
from kebu.core.timezones import time_zone_label
from kebu.customers.columns import yuan
from kebu.insights import access
from kebu.insights.models import DashboardState, InsightKind
from kebu.insights.selectors import dashboard as selectors
from kebu.insights.selectors.dashboard import POOL, DashboardFigures, DashboardFilters
from kebu.insights.services.dashboard import STATE_PK, dashboard_refresh
from kebu.insights.views._common import freshness
from kebu.orders.models import Order, Store
from kebu.orders.selectors import COUNTED
from kebu.transfer.downloads import ExportAudit, Percent, Sheet, xlsx_response

KIND = InsightKind.DASHBOARD
# The page brings the tables up to date itself when that is a few days' work and was not done in the
# last minute (a task or a colleague's visit does it meanwhile); anything bigger is left to them.
PAGE_REFRESH_DAYS = 3
PAGE_REFRESH_EVERY = timedelta(seconds=60)
# A shop this small is rebuilt by the page itself when it has never been (its first visit, before the
# first night): a few seconds at most, where a bigger one waits for the night or "Compute now".
SMALL_SHOP_ORDERS = 20_000

PRESET_LABELS = {
    "7d": gettext_lazy("Last 7 days"),
    "30d": gettext_lazy("Last 30 days"),
    "90d": gettext_lazy("Last 90 days"),
    "this_month": gettext_lazy("This month"),
    "last_month": gettext_lazy("Last month"),
    "this_year": gettext_lazy("This year"),
    "custom": gettext_lazy("Custom dates"),
}
GRAIN_LABELS = {
    "day": gettext_lazy("By day"),
    "week": gettext_lazy("By week"),
    "month": gettext_lazy("By month"),
}


class DashboardFilterForm(KebuForm):
    preset = forms.ChoiceField(
        label=gettext_lazy("Dates"),
        required=False,
        choices=[(k, PRESET_LABELS[k]) for k in selectors.PRESETS],
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    store = forms.ModelChoiceField(
        label=gettext_lazy("Store"),
        queryset=Store.objects.all(),
        required=False,
        empty_label=gettext_lazy("All stores"),
    )
    platform = forms.ChoiceField(label=gettext_lazy("Platform"), required=False)
    owner = forms.ChoiceField(label=gettext_lazy("Owner"), required=False)
    grain = forms.ChoiceField(
        label=gettext_lazy("Sales line"),
        required=False,
        choices=[("", gettext_lazy("Automatic")), *((k, GRAIN_LABELS[k]) for k in selectors.GRAINS)],
    )

    def __init__(self, *args: Any, owners: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", _("Every owner you can see")), *owners]
        self.fields["platform"].choices = [("", _("All platforms")), *selectors.platform_choices()]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        preset = data.get("preset") or (
            "custom" if data.get("date_from") or data.get("date_to") else selectors.DEFAULT_PRESET
        )
        today = selectors.shop_today()
        if preset == "custom":
            first = data.get("date_from") or today - timedelta(days=29)
            last = data.get("date_to") or today
        else:
            first, last = selectors.preset_range(preset, today=today)
        if first > last:
            self.add_error("date_to", _("Choose a day after the start."))
        elif (last - first).days + 1 > selectors.MAX_DAYS:
            self.add_error(
                "date_from",
                _("Choose at most %(n)d days; the sales summary covers longer periods.")
                % {"n": selectors.MAX_DAYS},
            )
        data.update(preset=preset, date_from=first, date_to=last)
        return data

    def filters(self) -> DashboardFilters:
        data = self.cleaned_data
        owner: int | str | None = data.get("owner") or None
        if owner is not None and owner != POOL:
            owner = int(owner)
        first, last = data["date_from"], data["date_to"]
        return DashboardFilters(
            date_from=first,
            date_to=last,
            store_id=data["store"].pk if data.get("store") else None,
            platform="" if data.get("store") else data.get("platform") or "",
            owner=owner,
            grain=data.get("grain") or selectors.auto_grain(first, last),
        )


def _form(request: HttpRequest) -> DashboardFilterForm:
    owners = selectors.dashboard_owner_choices(user=request.user)
    return DashboardFilterForm(request.GET, owners=owners)


def _shown_form(form: DashboardFilterForm) -> DashboardFilterForm:
    """The filters as applied, also where they were left to their defaults (the dates of a preset)."""
    data = form.cleaned_data
    keys = ("preset", "date_from", "date_to", "store", "platform", "owner", "grain")
    initial = {key: data.get(key) for key in keys}
    return DashboardFilterForm(initial=initial, owners=list(form.fields["owner"].choices)[1:])


def _bring_up_to_date(request: HttpRequest) -> None:
    """Fold the latest orders, refunds and reassignments in before reading, when that is cheap; build the
    tables of a small shop that has never had them."""
    from kebu.insights.services.runs import insight_compute

    state = DashboardState.objects.filter(pk=STATE_PK).values_list("refreshed_at", flat=True).first()
    if state is not None and state > timezone.now() - PAGE_REFRESH_EVERY:
        return
    result = dashboard_refresh(max_days=PAGE_REFRESH_DAYS)
    if (
        result.needs_rebuild
        and Order.objects.order_by()[: SMALL_SHOP_ORDERS + 1].count() <= SMALL_SHOP_ORDERS
    ):
        insight_compute(kind=KIND, actor=request.user)


# --- where each chart leads ------------------------------------------------------------------------------


def _link(name: str, params: dict[str, Any], *args: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return reverse(name, args=args) + (f"?{query}" if query else "")


def _owner_param(filters: DashboardFilters) -> str:
    if filters.owner is None:
        return ""
    return "null" if filters.owner == POOL else str(filters.owner)


def orders_url(filters: DashboardFilters, start: date, end: date, store_id: int | None = None) -> str:
    """The order list of ``start`` to ``end``: the orders counted as sales in the store (``store_id``)
    or channel chosen, of the owner chosen: the orders behind the figure clicked."""
    store = store_id if store_id is not None else filters.store_id
    params = {
        "status": COUNTED,
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "store": store,
        "platform": None if store is not None else filters.platform,
        "owner": _owner_param(filters),
    }
    return _link("orders:list", params)


def customers_url(filters: DashboardFilters, **params: Any) -> str:
    return _link("customers:list", {**params, "owner": _owner_param(filters)})


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def chart_data(figures: DashboardFigures) -> dict[str, Any]:
    """What the script draws, with each mark's address. Amounts travel as decimal strings, never floats."""
    f = figures.filters
    data: dict[str, Any] = {
        "labels": {
            "net": _("Net sales (¥)"),
            "orders": _("Orders"),
            "units": _("Units"),
            "new": _("New customers"),
            "returning": _("Returning customers"),
            "customers": _("Customers"),
            "save": _("Save as image"),
        }
    }
    if figures.sales_visible:
        data["sales"] = {
            "labels": [b.label for b in figures.buckets],
            "net": [_money(b.net_cny) for b in figures.buckets],
            "orders": [b.orders for b in figures.buckets],
            "urls": [orders_url(f, b.start, b.end) for b in figures.buckets],
        }
        data["channels"] = [
            {
                "name": s.label,
                "value": _money(s.net_cny),
                "orders": s.orders,
                "url": orders_url(f, f.date_from, f.date_to, store_id=s.key),
            }
            for s in figures.channels
        ]
        data["categories"] = {
            "labels": [s.label for s in figures.categories],
            "net": [_money(s.net_cny) for s in figures.categories],
            "units": [s.units for s in figures.categories],
            "urls": [
                _link("orders:products", {"category": s.key}) if s.key is not None else None
                for s in figures.categories
            ],
        }
        data["customers"] = {
            "labels": [b.label for b in figures.buckets],
            "new": [b.new_customers for b in figures.buckets],
            "returning": [b.returning_customers for b in figures.buckets],
            "new_urls": [
                customers_url(f, first_order_after=b.start.isoformat(), first_order_before=b.end.isoformat())
                for b in figures.buckets
            ],
            "returning_urls": [orders_url(f, b.start, b.end) for b in figures.buckets],
        }
        data["top_customers"] = {
            "labels": [f"{c.name or c.customer_no}" for c in figures.top_customers],
            "net": [_money(c.net_cny) for c in figures.top_customers],
            "urls": [reverse("customers:detail", args=[c.id]) for c in figures.top_customers],
        }
        data["top_products"] = {
            "labels": [s.label for s in figures.top_products],
            "net": [_money(s.net_cny) for s in figures.top_products],
            "units": [s.units for s in figures.top_products],
            "urls": [_link("orders:products", {"q": s.label}) for s in figures.top_products],
        }
    if figures.customers_visible:
        data["provinces"] = {
            "labels": [s.label for s in figures.provinces],
            "values": [s.customers for s in figures.provinces],
            "urls": [customers_url(f, province=s.key) if s.key else None for s in figures.provinces],
        }
        data["funnel"] = [
            {"name": s.label, "value": s.customers, "url": customers_url(f, stage=s.key)}
            for s in figures.funnel
        ]
    return data


def complaints_url() -> str:
    return _link("tickets:list", {"tab": "open", "kind": "complaint"})


# --- the page -------------------------------------------------------------------------------------------


def _kpi_cards(figures: DashboardFigures) -> list[dict[str, Any]]:
    cards = []
    for kpi in figures.kpis:
        change = kpi.change
        if kpi.kind == "money":
            shown, before = yuan(kpi.value), yuan(kpi.previous)  # type: ignore[arg-type]
        elif kpi.kind == "rate":
            shown = _percent(kpi.value)
            before = _percent(kpi.previous)
        else:
            shown, before = f"{kpi.value:,}", f"{kpi.previous:,}"
        if change is None:
            delta, good = "", None
        elif kpi.kind == "rate":
            delta = _("%(sign)s%(points)s pt") % {
                "sign": "+" if change > 0 else "",
                "points": f"{change * 100:.1f}",
            }
            good = None if change == 0 else (change > 0) == kpi.higher_is_better
        else:
            delta = f"{'+' if change > 0 else ''}{change * 100:.1f}%"
            good = None if change == 0 else (change > 0) == kpi.higher_is_better
        cards.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "value": shown or "—",
                "previous": before or "—",
                "delta": delta,
                "good": good,  # the colour: good news or bad
                "up": None if not change else change > 0,  # the arrow: which way it went
                "note": kpi.note,
            }
        )
    return cards


def _percent(rate: Decimal | int | None) -> str:
    return "" if rate is None else f"{Decimal(rate) * 100:.1f}%"


@require_GET
@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    access.require_view(request.user, KIND)
    form = _form(request)
    context: dict[str, Any] = {"form": form, "presets": PRESET_LABELS, **freshness(request, KIND)}
    if not form.is_valid():
        return render(request, "insights/dashboard/page.html", context, status=400)
    _bring_up_to_date(request)
    context.update(freshness(request, KIND))
    filters = form.filters()
    figures = selectors.dashboard_figures(user=request.user, filters=filters)
    query = request.GET.copy()
    context.update(
        form=_shown_form(form),
        time_zone=time_zone_label(),
        figures=figures,
        filters=filters,
        previous_from=filters.previous[0],
        previous_to=filters.previous[1],
        cards=_kpi_cards(figures) if figures.sales_visible else [],
        chart=chart_data(figures),
        complaints_url=complaints_url(),
        query=query.urlencode(),
        preset=form.cleaned_data["preset"],
        grain_label=GRAIN_LABELS[filters.grain],
    )
    return render(request, "insights/dashboard/page.html", context)


# --- the spreadsheet -----------------------------------------------------------------------------------


_sheet = partial(Sheet, width=18)


def export_sheets(figures: DashboardFigures) -> list[Sheet]:
    """A sheet for each chart of the page, amounts as Decimal yuan."""
    f = figures.filters
    sheets: list[Sheet] = []
    if figures.sales_visible:
        period = _("%(from)s to %(to)s") % {"from": f.date_from, "to": f.date_to}
        sheets += [
            _sheet(
                _("Summary"),
                [_("Figure"), period, _("Period before")],
                [
                    [k.label, Percent(k.value), Percent(k.previous)]
                    if k.kind == "rate"
                    else [k.label, k.value, k.previous]
                    for k in figures.kpis
                ],
            ),
            _sheet(
                _("Sales"),
                [_("From"), _("Until"), _("Net sales (¥)"), _("Orders")],
                [[b.start, b.end, b.net_cny, b.orders] for b in figures.buckets],
            ),
            _sheet(
                _("By channel"),
                [_("Store"), _("Net sales (¥)"), _("Orders")],
                [[s.label, s.net_cny, s.orders] for s in figures.channels],
            ),
            _sheet(
                _("By category"),
                [_("Top category"), _("Net sales (¥)"), _("Units"), _("Orders")],
                [[s.label, s.net_cny, s.units, s.orders] for s in figures.categories],
            ),
            _sheet(
                _("New and returning"),
                [_("From"), _("Until"), _("New customers"), _("Returning customers")],
                [[b.start, b.end, b.new_customers, b.returning_customers] for b in figures.buckets],
            ),
            _sheet(
                _("Top customers"),
                [_("Customer number"), _("Name"), _("Net sales (¥)"), _("Orders")],
                [[c.customer_no, c.name, c.net_cny, c.orders] for c in figures.top_customers],
            ),
            _sheet(
                _("Top products"),
                [_("Product"), _("Net sales (¥)"), _("Units"), _("Orders")],
                [[s.label, s.net_cny, s.units, s.orders] for s in figures.top_products],
            ),
        ]
    if figures.customers_visible:
        sheets += [
            _sheet(
                _("By province"),
                [_("Province"), _("Customers")],
                [[s.label, s.customers] for s in figures.provinces],
            ),
            _sheet(
                _("Lifecycle"),
                [_("Lifecycle stage"), _("Customers")],
                [[s.label, s.customers] for s in figures.funnel] + [[_("Churned"), figures.churned]],
            ),
        ]
    return sheets


@require_GET
@login_required
def dashboard_export_view(request: HttpRequest) -> HttpResponse:
    """The page's chart data, one sheet per chart, as the user sees it. Audited like every export: it
    holds customers' names and what they spent."""
    access.require_view(request.user, KIND)
    form = _form(request)
    if not form.is_valid():
        return HttpResponse(status=400)
    filters = form.filters()
    figures = selectors.dashboard_figures(user=request.user, filters=filters)
    name = f"dashboard-{filters.date_from:%Y%m%d}-{filters.date_to:%Y%m%d}.xlsx"
    audit = {
        "date_from": filters.date_from.isoformat(),
        "date_to": filters.date_to.isoformat(),
        "store": filters.store_id,
        "platform": filters.platform,
        "owner": filters.owner,
    }
    return xlsx_response(
        name, export_sheets(figures), audit=ExportAudit("insights.dashboard_export", request.user, audit)
    )
