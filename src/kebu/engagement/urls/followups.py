"""Pages of the service work: followups."""

app_name = "followups"
urlpatterns: list = []
