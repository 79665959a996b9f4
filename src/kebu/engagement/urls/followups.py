"""Pages of the service work: follow-ups (回访) and the today page."""

from django.urls import path

from kebu.engagement.views import followups as views

app_name = "followups"
urlpatterns = [
    path("", views.today_view, name="today"),
    path("count/", views.badge_view, name="badge"),
    path("digest/", views.digest_view, name="digest"),
    path("customer/<int:customer_id>/", views.customer_card_view, name="customer_followups"),
    path("customer/<int:customer_id>/new/", views.create_view, name="create"),
    path("<int:followup_id>/done/", views.done_view, name="done"),
    path("<int:followup_id>/snooze/", views.snooze_view, name="snooze"),
    path("<int:followup_id>/reassign/", views.reassign_view, name="reassign"),
    path("<int:followup_id>/cancel/", views.cancel_view, name="cancel"),
]
