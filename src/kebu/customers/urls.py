from django.urls import path

from kebu.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list_view, name="list"),
    path("new/", views.customer_create_view, name="create"),
    path("bulk/", views.customer_bulk_view, name="bulk"),
    path("export.csv", views.customer_export_view, name="export"),
    path("check-phone/", views.phone_check_view, name="check-phone"),
    path("views/save/", views.saved_view_save, name="view-save"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="view-delete"),
    path("<int:customer_id>/", views.customer_detail_view, name="detail"),
    path("<int:customer_id>/edit/", views.customer_edit_view, name="edit"),
    path("<int:customer_id>/archive/", views.customer_archive_view, name="archive"),
    path("<int:customer_id>/restore/", views.customer_restore_view, name="restore"),
    path("<int:customer_id>/claim/", views.customer_claim_view, name="claim"),
    path("<int:customer_id>/release/", views.customer_release_view, name="release"),
    path("<int:customer_id>/transfer/", views.customer_transfer_view, name="transfer"),
    path("<int:customer_id>/reveal/", views.customer_reveal_view, name="reveal"),
]
