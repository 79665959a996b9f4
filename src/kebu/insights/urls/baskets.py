"""Frequently bought together, under /insights/baskets/."""

from django.urls import path

from kebu.insights.views import baskets as views

urlpatterns = [
    path("", views.baskets_view, name="baskets"),
    path("products/<int:product_id>/", views.product_bought_together_view, name="baskets-product"),
    path("customers/<int:customer_id>/", views.customer_recommendations_view, name="baskets-customer"),
]
