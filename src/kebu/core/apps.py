from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "kebu.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from kebu.core import checks, lookups  # noqa: F401  (register the keyring check, ``prefix`` lookup)
