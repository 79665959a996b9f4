import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
application = get_wsgi_application()

# Refuse to serve with keys that cannot read this database (a clear message in the log and no worker
# booted), rather than an error page on the first customer opened.
from kebu.core.crypto import keyring_check  # noqa: E402

keyring_check()
