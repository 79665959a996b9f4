"""Pages of the service work: surveys."""

app_name = "surveys"
urlpatterns: list = []
