"""Kebu's one settings module, driven by environment variables only (12-factor).

Every knob is read here, once; nothing else in the code base looks at ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from kebu.core.checkpoint import AUTOCHECKPOINT_PAGES

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("KEBU_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Take KEBU_SECRET_KEY, else a key generated once into the data dir (never committed)."""
    if os.environ.get("KEBU_SECRET_KEY"):
        return os.environ["KEBU_SECRET_KEY"]
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("KEBU_DEBUG")
ALLOWED_HOSTS = env_list("KEBU_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("KEBU_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "huey.contrib.djhuey",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "kebu.core",
    "kebu.accounts",
    "kebu.audit",
    "kebu.customers",
    "kebu.orders",
    "kebu.transfer",
    "kebu.engagement",
    "kebu.insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "kebu.accounts.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "kebu.accounts.middleware.TwoFactorMiddleware",
    "kebu.audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kebu.accounts.middleware.SessionLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kebu.urls"
WSGI_APPLICATION = "kebu.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "customers:list"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kebu.core.context_processors.shop",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------
# SQLite in the data dir by default; PostgreSQL (or any dj-database-url URL) when DATABASE_URL is set.
SQLITE_PATH = DATA_DIR / "kebu.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            # Django's, with writers that take turns: a bulk writer's next batch lets the writers
            # waiting go first (kebu.core.sqlite.base).
            "ENGINE": "kebu.core.sqlite",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                # A deferred transaction that later upgrades to a write fails at once with
                # "database is locked"; IMMEDIATE takes the write lock up front and waits for it.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA cache_size=-65536;"
                    "PRAGMA mmap_size=268435456;"
                    "PRAGMA temp_store=MEMORY;"
                    # A background thread checkpoints (kebu.core.checkpoint); a commit only does when
                    # that thread is not there or falls behind.
                    f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES};"
                ),
            },
            "TEST": {"NAME": os.environ.get("KEBU_TEST_SQLITE_NAME") or None},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get("KEBU_TEST_PG_NAME") or None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and background jobs ---------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "kebu",
        "url": REDIS_URL,
        "immediate": False,
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "kebu",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": env_bool("KEBU_HUEY_IMMEDIATE"),
    }

# --- Passwords, logins, sessions -------------------------------------------------------------------------
# Argon2id for new and re-saved passwords; PBKDF2 stays listed so older hashes still verify (and upgrade).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before checking it
    "django.contrib.auth.backends.ModelBackend",
]
# Lock a username on one address after repeated failures, for a while; a success resets the count.
AXES_FAILURE_LIMIT = int(os.environ.get("KEBU_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("KEBU_LOGIN_LOCKOUT_MINUTES", "15")) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lockout page, saying how long the lock lasts and when it ends (axes gives a template no end time).
AXES_LOCKOUT_CALLABLE = "kebu.accounts.views.locked_out"
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "kebu.accounts.validators.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A login ends after KEBU_SESSION_SECONDS without a request (SessionLimitsMiddleware moves the expiry
# forward while someone works), and KEBU_SESSION_MAX_HOURS after logging in, however busy.
SESSION_COOKIE_AGE = int(os.environ.get("KEBU_SESSION_SECONDS", str(8 * 3600)))
SESSION_ABSOLUTE_AGE = int(float(os.environ.get("KEBU_SESSION_MAX_HOURS", "24")) * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Two-step verification (django-otp): an authenticator app plus recovery codes; required for admins
# (kebu.accounts.twofactor.requires_two_factor). Wrong codes slow down: 1, 2, 4, 8 … seconds.
OTP_TOTP_ISSUER = " ".join(filter(None, ["Kebu", os.environ.get("KEBU_SHOP_NAME", "")]))
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin lists devices but never shows their secret keys
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- HTTPS and security headers ---------------------------------------------------------------------------
# The default profile is plain HTTP on 127.0.0.1, for one laptop. KEBU_HTTPS=1 is the production profile
# behind TLS: secure cookies, HTTP redirected to HTTPS, HSTS. `kebu check --deploy` is clean with it.
KEBU_HTTPS = env_bool("KEBU_HTTPS")
SESSION_COOKIE_SECURE = KEBU_HTTPS
CSRF_COOKIE_SECURE = KEBU_HTTPS
# KEBU_SSL_REDIRECT=0 when the proxy in front already sends http:// to https://.
SECURE_SSL_REDIRECT = KEBU_HTTPS and env_bool("KEBU_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a health probe on the private side speaks plain HTTP
SECURE_HSTS_SECONDS = int(os.environ.get("KEBU_HSTS_SECONDS", "31536000")) if KEBU_HTTPS else 0
# Off unless asked: HSTS on subdomains (or the browsers' preload list, which is slow to leave) would
# force HTTPS on every other site under the shop's domain, such as an old shop page served over HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("KEBU_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("KEBU_HSTS_PRELOAD")
if env_bool("KEBU_BEHIND_PROXY"):
    # Only behind a proxy that sets X-Forwarded-Proto itself; without one, any client could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# What `check --deploy` would report about the choices just above is a decision, not an oversight.
SILENCED_SYSTEM_CHECKS: list[str] = []
if KEBU_HTTPS and not SECURE_HSTS_INCLUDE_SUBDOMAINS:
    SILENCED_SYSTEM_CHECKS.append("security.W005")
if KEBU_HTTPS and not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")
if KEBU_HTTPS and not SECURE_SSL_REDIRECT:
    SILENCED_SYSTEM_CHECKS.append("security.W008")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Scripts and styles come from Kebu's own static files only: no inline script, style or event handler
# anywhere (behaviours live in static/kebu/kebu.js), so an injected <script> would not run.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Bootstrap draws checkboxes and select arrows as data: SVGs
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Browser features no Kebu page uses, refused to the page and anything injected into it.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=()"
)

# --- Language and time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["kebu.formats"]
USE_I18N = True
TIME_ZONE = os.environ.get("KEBU_TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Uploaded files (attachments of contact records and tickets). Never served as static files: a view
# checks that the asker may see the record first.
MEDIA_ROOT = DATA_DIR / "media"
# Largest attachment accepted (a chat screenshot, a photo, a PDF), in MB; at most 5 files a record.
ATTACHMENT_MAX_MB = int(os.environ.get("KEBU_ATTACHMENT_MAX_MB", "10"))

# --- Mail -----------------------------------------------------------------------------------------------
# Only the optional daily digest of follow-ups sends mail; without KEBU_SMTP_HOST nothing is sent.
EMAIL_HOST = os.environ.get("KEBU_SMTP_HOST", "")
EMAIL_PORT = int(os.environ.get("KEBU_SMTP_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("KEBU_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("KEBU_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("KEBU_SMTP_STARTTLS")
EMAIL_USE_SSL = env_bool("KEBU_SMTP_SSL")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("KEBU_MAIL_FROM", "kebu@localhost")

# --- API ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Session only for now: password-based Basic auth would allow unlimited guessing until login
    # lockout exists; API tokens come with the public-API work.
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "kebu.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kebu API",
    # The one place an integrator reads how to talk to the API before the first request: the schema's
    # own description (shown at the top of /api/docs/ and /api/redoc/).
    "DESCRIPTION": (
        "Kebu (客簿) customer ledger.\n\n"
        "**Signing in.** The API takes the session of a login (there are no API tokens yet): POST the "
        "login form at `/login/` (after a GET for its `csrftoken` cookie), then send the `sessionid` "
        "cookie with every request and, on writes (POST, PUT, PATCH), the `csrftoken` cookie's value as "
        "the `X-CSRFToken` header (over HTTPS, also a `Referer` from the same host). A request without "
        "a valid session, or from a colleague whose account is switched off, answers 403 with `code` "
        "`not_authenticated`; roles that must use two-step verification answer 403 with `code` "
        "`two_factor_required` until it is done in the browser.\n\n"
        "**Errors.** Every error is JSON with a `code` (`invalid`, `not_found`, `conflict`, "
        "`duplicate`, `forbidden`, or DRF's own such as `not_authenticated`, `parse_error`, "
        "`method_not_allowed`): field errors under their dotted path (`lines.0.quantity`), others "
        "under `non_field_errors` or `detail`. Something you may not see answers 404, as a missing one "
        "does. Messages follow `Accept-Language` (`zh-Hans`, `en`).\n\n"
        "**Lists** are cursor-paginated: follow `next` and `previous` as given; `page_size` is 50 by "
        "default, at most 200 (a larger one gives 200), and one that is not a whole number of at least 1 "
        "answers 400 with `code` `invalid` under `page_size`. A page link made for another sort answers "
        "404 with `code` "
        "`invalid_cursor`: start again from the first page.\n\n"
        "**Changes** to a customer, a product, an order, an after-sale or a ticket send the `version` you "
        "read, in "
        "the body or as `If-Match` (the `ETag` of its detail); a stale one answers 409 `conflict`. "
        "Creating a customer, an order or an after-sale may carry an `Idempotency-Key` header, so a "
        "retried request writes once.\n\n"
        '**Values.** Money is a string with two decimals (`"199.00"`); times are ISO 8601 with '
        "their offset, answered in the shop's time zone."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI would send every schema to validator.swagger.io; nothing leaves the shop's server.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Several models have a "status" or "kind": name their enums after the model, not a hash.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "kebu.orders.models.OrderStatus",
        "AfterSaleStatusEnum": "kebu.orders.models.AfterSaleStatus",
        "AfterSaleKindEnum": "kebu.orders.models.AfterSaleKind",
        "SocialKindEnum": "kebu.customers.models.SocialKind",
        "ConsentChannelEnum": "kebu.customers.models.ConsentChannel",
        "ContactChannelEnum": "kebu.engagement.models.ContactChannel",
        "TicketKindEnum": "kebu.engagement.models.TicketKind",
        "TicketStatusEnum": "kebu.engagement.models.TicketStatus",
        "FollowUpKindEnum": "kebu.engagement.models.FollowUpKind",
        "FollowUpStatusEnum": "kebu.engagement.models.FollowUpStatus",
    },
}

# --- Kebu's own -----------------------------------------------------------------------------------------
KEBU = {
    "CUSTOMER_NO_PREFIX": os.environ.get("KEBU_CUSTOMER_NO_PREFIX", "C"),
    "CUSTOMER_NO_DIGITS": int(os.environ.get("KEBU_CUSTOMER_NO_DIGITS", "6")),
    "SHOP_NAME": os.environ.get("KEBU_SHOP_NAME", _("My shop")),
    "PHONE_REGION": os.environ.get("KEBU_PHONE_REGION", "CN"),
    # Rows an import writes per transaction: what a killed worker can lose and does again.
    "IMPORT_BATCH_ROWS": int(os.environ.get("KEBU_IMPORT_BATCH_ROWS", "500")),
    # A customer import with at least this many rows to go, and no fewer than the customers there are,
    # sets the customer table's list indexes aside and builds them again at its end (kebu.core.indexes).
    "IMPORT_INDEXES_ASIDE_ROWS": int(os.environ.get("KEBU_IMPORT_INDEXES_ASIDE_ROWS", "50000")),
    # The largest spreadsheet the import page takes, in MB (the reader refuses more than 200 anyway).
    "IMPORT_MAX_MB": int(os.environ.get("KEBU_IMPORT_MAX_MB", "50")),
    # Days an imported file (personal data) is kept after its import ended, for the rejected rows' report.
    "IMPORT_KEEP_DAYS": int(os.environ.get("KEBU_IMPORT_KEEP_DAYS", "30")),
    # An export of more rows than this runs in the background and is downloaded from a link.
    "EXPORT_INLINE_ROWS": int(os.environ.get("KEBU_EXPORT_INLINE_ROWS", "10000")),
    # Days an export file (personal data) is kept for download before it is deleted.
    "EXPORT_KEEP_DAYS": int(os.environ.get("KEBU_EXPORT_KEEP_DAYS", "7")),
    # The address staff open Kebu at (https://crm.example.com), for links in mail; empty: relative links.
    "BASE_URL": os.environ.get("KEBU_BASE_URL", "").rstrip("/"),
    # The hour (shop time) from which the daily follow-up digest is mailed to those who asked for it.
    "DIGEST_HOUR": int(os.environ.get("KEBU_DIGEST_HOUR", "8")),
    # The nightly analyses (dashboard figures, scores, forecast, baskets) start from this hour, shop time.
    "INSIGHTS_HOUR": int(os.environ.get("KEBU_INSIGHTS_HOUR", "2")),
}
# Reverse proxies (addresses or networks) whose X-Forwarded-For the audit log believes; empty: none.
KEBU_TRUSTED_PROXIES = env_list("KEBU_TRUSTED_PROXIES")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KEBU_LOG_LEVEL", "INFO")},
    # The worker's consumer (Huey) gives itself a handler of its own unless its logger has one, which then
    # printed each line twice (its own and the root's), and notes every periodic task it runs, each
    # minute: a merchant's terminal showed six lines a minute of nothing. It says what goes wrong.
    "loggers": {
        "huey": {
            "handlers": ["console"],
            "level": os.environ.get("KEBU_WORKER_LOG_LEVEL", "WARNING"),
            "propagate": False,
        }
    },
}
