"""`/api/v1/products/`, `/api/v1/orders/`, `/api/v1/refunds/`, `/api/v1/stores/`. A SimpleRouter: the API
root view at `/api/v1/` is the customers router's, and a second one would only shadow it."""

from rest_framework.routers import SimpleRouter

from kebu.orders.api import AfterSaleViewSet, OrderViewSet, ProductViewSet, StoreViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("orders", OrderViewSet, basename="order")
router.register("refunds", AfterSaleViewSet, basename="refund")
router.register("stores", StoreViewSet, basename="store")
urlpatterns = router.urls
