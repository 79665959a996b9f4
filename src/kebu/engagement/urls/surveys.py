"""Pages of the service work: surveys. ``r/<token>/`` is the customer's page, reached without a login
(no view under it asks for one, and no middleware demands it)."""

from django.urls import path

from kebu.engagement.views import survey_public
from kebu.engagement.views import surveys as views

app_name = "surveys"
urlpatterns = [
    path("", views.survey_list_view, name="list"),
    path("new/", views.survey_create_view, name="create"),
    path("<int:survey_id>/", views.survey_detail_view, name="detail"),
    path("<int:survey_id>/edit/", views.survey_edit_view, name="edit"),
    path("<int:survey_id>/close/", views.survey_active_view, {"active": False}, name="close"),
    path("<int:survey_id>/reopen/", views.survey_active_view, {"active": True}, name="reopen"),
    path("<int:survey_id>/preview/", views.survey_preview_view, name="preview"),
    path("<int:survey_id>/questions/", views.question_add_view, name="question-add"),
    path("questions/<int:question_id>/edit/", views.question_edit_view, name="question-edit"),
    path("questions/<int:question_id>/move/", views.question_move_view, name="question-move"),
    path("questions/<int:question_id>/remove/", views.question_remove_view, name="question-remove"),
    path("<int:survey_id>/links/", views.invitation_batch_view, name="links"),
    path("<int:survey_id>/links/export/", views.invitation_export_view, name="links-export"),
    path("<int:survey_id>/results/", views.survey_results_view, name="results"),
    path("<int:survey_id>/results/export/", views.survey_results_export_view, name="results-export"),
    path("customers/<int:customer_id>/send/", views.customer_send_view, name="customer_send"),
    path("customers/<int:customer_id>/card/", views.customer_surveys_view, name="customer_surveys"),
    path("r/<str:token>/", survey_public.survey_answer_view, name="answer"),
]
