from django.contrib import admin
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Kebu settings")
admin.site.site_title = _("Kebu")
admin.site.index_title = _("Shop settings")
