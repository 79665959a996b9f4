"""Pages of the service work: contacts."""

app_name = "contacts"
urlpatterns: list = []
