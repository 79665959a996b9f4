from rest_framework.routers import DefaultRouter

from kebu.customers.api import CustomerViewSet, SourceChannelViewSet, TagViewSet

router = DefaultRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("tags", TagViewSet, basename="tag")
router.register("source-channels", SourceChannelViewSet, basename="source-channel")
urlpatterns = router.urls
