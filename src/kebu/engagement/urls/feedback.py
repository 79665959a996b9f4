"""Pages of the service work: feedback."""

app_name = "feedback"
urlpatterns: list = []
