"""`/api/v1/contacts/`, `/api/v1/tickets/`, `/api/v1/feedback/`, `/api/v1/preferences/`,
`/api/v1/surveys/`, `/api/v1/followups/`, `/api/v1/customers/<id>/timeline/`. A SimpleRouter, as in
orders: the API root view is the customers router's."""

from rest_framework.routers import SimpleRouter

router = SimpleRouter()
urlpatterns = router.urls
