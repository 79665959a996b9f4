"""Pages of the service work: tickets."""

app_name = "tickets"
urlpatterns: list = []
