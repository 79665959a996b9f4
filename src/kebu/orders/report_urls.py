from django.urls import path

from kebu.orders import report_views

app_name = "reports"
urlpatterns = [
    path("sales/", report_views.sales_summary_view, name="sales"),
    path("sales.xlsx", report_views.sales_summary_export_view, name="sales-export"),
]
