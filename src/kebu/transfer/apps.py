from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransferConfig(AppConfig):
    name = "kebu.transfer"
    verbose_name = _("Import and export")

    def ready(self) -> None:
        from kebu.transfer import drafts, exports, imports  # noqa: F401 (register their jobs' runners)
