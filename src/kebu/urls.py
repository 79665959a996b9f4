from csp.decorators import csp_replace
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from kebu.core import views as core_views

handler500 = "kebu.core.views.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="customers:list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("kebu.accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon),
    path("divisions/", core_views.division_options, name="divisions"),
    path("settings/shop/", core_views.shop_settings_view, name="shop-settings"),
    path("customers/", include("kebu.customers.urls")),
    path("orders/", include("kebu.orders.urls")),
    path("reports/", include("kebu.orders.report_urls")),
    path("audit/", include("kebu.audit.urls")),
    path("imports/", include("kebu.transfer.urls")),
    path("exports/", include("kebu.transfer.export_urls")),
    path("contacts/", include("kebu.engagement.urls.contacts")),
    path("tickets/", include("kebu.engagement.urls.tickets")),
    path("followups/", include("kebu.engagement.urls.followups")),
    path("surveys/", include("kebu.engagement.urls.surveys")),
    path("feedback/", include("kebu.engagement.urls.feedback")),
    path("timeline/", include("kebu.engagement.urls.timeline")),
    path("insights/", include("kebu.insights.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("kebu.customers.api_urls")),
    path("api/v1/", include("kebu.orders.api_urls")),
    path("api/v1/", include("kebu.engagement.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's start-up script comes from its own URL (?script), so the page needs no inline script.
    # The reference pages are for people in a browser: one not signed in is sent to log in (and back),
    # not shown the 403 page's "your role does not allow this". The schema itself answers JSON.
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html")
        ),
        name="api-docs",
    ),
    # ReDoc is styled by CSS-in-JS, some of it injected before any nonce could be handed to it: on this
    # page only, inline styles are allowed (scripts still are not), and its search runs in a blob: worker.
    path(
        "api/redoc/",
        login_required(
            csp_replace({"style-src": ["'self'", "'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})(
                SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
            )
        ),
        name="api-redoc",
    ),
]
