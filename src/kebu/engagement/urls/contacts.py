"""Pages of the service work: contact records (with their attachments) and customer preferences."""

from django.urls import path

from kebu.engagement.views import contacts, preferences

app_name = "contacts"
urlpatterns = [
    path("", contacts.contact_list_view, name="list"),
    path("new/", contacts.contact_quick_log_view, name="new"),
    path("attachments/<int:attachment_id>/", contacts.attachment_download_view, name="attachment"),
    path("customer/<int:customer_id>/", contacts.customer_contact_list_view, name="customer_list"),
    path("customer/<int:customer_id>/card/", contacts.customer_contacts_view, name="customer_contacts"),
    path("customer/<int:customer_id>/log/", contacts.customer_log_view, name="customer_log"),
    path(
        "customer/<int:customer_id>/preferences/",
        preferences.customer_preferences_view,
        name="customer_preferences",
    ),
    path(
        "customer/<int:customer_id>/preferences/edit/",
        preferences.customer_preferences_edit_view,
        name="customer_preferences_edit",
    ),
]
