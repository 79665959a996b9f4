from django.urls import path

from kebu.orders import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list_view, name="list"),
    path("new/", views.order_create_view, name="create"),
    path("sku-search/", views.sku_search_view, name="sku-search"),
    path("customer-search/", views.customer_search_view, name="customer-search"),
    path("<int:order_id>/", views.order_detail_view, name="detail"),
    path("<int:order_id>/pay/", views.order_pay_view, name="pay"),
    path("<int:order_id>/ship/", views.order_ship_view, name="ship"),
    path("<int:order_id>/deliver/", views.order_deliver_view, name="deliver"),
    path("<int:order_id>/complete/", views.order_complete_view, name="complete"),
    path("<int:order_id>/cancel/", views.order_cancel_view, name="cancel"),
    path("<int:order_id>/details/", views.order_details_view, name="details"),
    path("<int:order_id>/aftersales/new/", views.aftersale_create_view, name="aftersale-create"),
    path("aftersales/", views.aftersale_list_view, name="aftersales"),
    *[
        path(
            f"aftersales/<int:aftersale_id>/{action}/",
            views.aftersale_action_view,
            {"action": action},
            name=f"aftersale-{action}",
        )
        for action in views.AFTERSALE_ACTIONS
    ],
    path("credit/overdue/", views.credit_overdue_view, name="credit-overdue"),
    path("credit/<int:customer_id>/", views.credit_customer_view, name="credit-customer"),
    path("credit/<int:customer_id>/payment/", views.credit_payment_view, name="credit-payment"),
    path("credit/<int:customer_id>/terms/", views.credit_terms_view, name="credit-terms"),
    path("products/", views.product_list_view, name="products"),
    path("products/new/", views.product_create_view, name="product-create"),
    path("products/<int:product_id>/edit/", views.product_edit_view, name="product-edit"),
    path("products/categories/", views.category_list_view, name="categories"),
    path("products/categories/<int:category_id>/edit/", views.category_edit_view, name="category-edit"),
    path("products/categories/<int:category_id>/delete/", views.category_delete_view, name="category-delete"),
    path("stores/", views.store_list_view, name="stores"),
    path("stores/<int:store_id>/edit/", views.store_edit_view, name="store-edit"),
]
