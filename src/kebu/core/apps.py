from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "kebu.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.db.models.signals import pre_migrate

        from kebu.core import checks, lookups  # noqa: F401  (register the keyring check, ``prefix`` lookup)
        from kebu.core.indexes import restore_before_migrate

        pre_migrate.connect(restore_before_migrate, sender=self, dispatch_uid="kebu-indexes-restore")
