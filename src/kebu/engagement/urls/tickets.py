"""Pages of the service work: tickets and complaints (工单/投诉)."""

from django.urls import path

from kebu.engagement.views import tickets as views

app_name = "tickets"
urlpatterns = [
    path("", views.ticket_list_view, name="list"),
    path("new/", views.ticket_create_view, name="create"),
    path("figures/", views.ticket_figures_view, name="figures"),
    path("<int:ticket_id>/", views.ticket_detail_view, name="detail"),
    path("<int:ticket_id>/transition/", views.ticket_transition_view, name="transition"),
    path("<int:ticket_id>/assign/", views.ticket_assign_view, name="assign"),
    path("<int:ticket_id>/note/", views.ticket_note_view, name="note"),
    path("customer/<int:customer_id>/", views.customer_tickets_view, name="customer_tickets"),
]
