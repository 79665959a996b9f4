from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "kebu.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        # The job runners and the receiver of shop-settings changes register on import: a worker that is
        # handed a job must know its kind without having served a page first.
        from kebu.orders.services import metrics  # noqa: F401
