from django.urls import path

from kebu.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_list_view, name="list"),
    path("export.csv", views.audit_export_view, name="export"),
]
