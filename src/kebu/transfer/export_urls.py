from django.urls import path

from kebu.transfer import export_views as views

app_name = "exports"
urlpatterns = [
    path("jobs/<int:job_id>/", views.export_job_view, name="job"),
    path("jobs/<int:job_id>/download/", views.export_download_view, name="download"),
    path("<str:kind>/template.xlsx", views.template_view, name="template"),
    path("<str:kind>/", views.export_view, name="export"),
]
