from django.urls import path

from kebu.transfer import views

app_name = "transfer"
urlpatterns = [
    path("", views.import_list_view, name="list"),
    path("new/", views.import_new_view, name="new"),
    path("draft/<str:token>/", views.import_draft_view, name="draft"),
    path("draft/<str:token>/drop/", views.import_draft_drop_view, name="draft-drop"),
    path("draft/<str:token>/check/<int:job_id>/", views.import_check_view, name="check"),
    path(
        "draft/<str:token>/check/<int:job_id>/report.xlsx",
        views.import_check_report_view,
        name="check-report",
    ),
    path("<int:import_id>/", views.import_detail_view, name="detail"),
    path("<int:import_id>/cancel/", views.import_cancel_view, name="cancel"),
    path("<int:import_id>/undo/", views.import_undo_view, name="undo"),
    path("<int:import_id>/rejected.xlsx", views.import_rejected_view, name="rejected"),
]
