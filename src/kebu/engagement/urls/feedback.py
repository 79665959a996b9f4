"""Pages of the service work: feedback and reviews (评价)."""

from django.urls import path

from kebu.engagement.views import feedback as views

app_name = "feedback"
urlpatterns = [
    path("", views.feedback_list_view, name="list"),
    path("new/", views.feedback_create_view, name="create"),
    path("product/<int:product_id>/", views.product_rating_view, name="product_rating"),
]
