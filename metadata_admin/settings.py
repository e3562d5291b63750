"""The one settings file. Every knob comes from the environment (or a local `.env`).

Readers below fail loudly on junk: a typo in DEBUG must not silently mean "on".
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

# Lets generic admin and form classes be subscripted at run time, as django-stubs types them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# A local `.env` (written by `make run`/`make test`, never committed) fills in what the real
# environment does not set; the real environment always wins.
load_dotenv(BASE_DIR / ".env", override=False)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the environment variable {name} (see .env.example).")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be True or False, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
# The audit hash chain's key: a secret the database does not hold (see
# docs/write-path-and-audit.md). Required unless DEBUG, where SECRET_KEY stands in for it.
# AUDIT_CHAIN_KEY_PREVIOUS: the key before a rotation, until `audit_rekey` has run.
AUDIT_CHAIN_KEY = env_str("AUDIT_CHAIN_KEY", "") or (SECRET_KEY if DEBUG else "")
AUDIT_CHAIN_KEY_PREVIOUS = env_str("AUDIT_CHAIN_KEY_PREVIOUS", "")
if not AUDIT_CHAIN_KEY:
    raise ImproperlyConfigured(
        "Set the environment variable AUDIT_CHAIN_KEY (see .env.example): with DEBUG off the "
        "audit chain needs a key the database does not hold."
    )
# The key that encrypts the tenants' token-signing keys at rest (users/auth/crypto.py): a
# secret the database does not hold. Required unless DEBUG, where one is derived from
# SECRET_KEY (fine for local use only: anyone with SECRET_KEY could then read the keys).
SIGNING_KEYS_SECRET = env_str("SIGNING_KEYS_SECRET", "") or (
    "derived-from-SECRET_KEY:" + SECRET_KEY if DEBUG else ""
)
if not SIGNING_KEYS_SECRET:
    raise ImproperlyConfigured(
        "Set the environment variable SIGNING_KEYS_SECRET (see .env.example): with DEBUG off "
        "the tenants' token-signing keys need a key the database does not hold."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "users.apps.SuperuserAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "template_partials",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "users",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise: static files keep their caching and need no policy.
    "csp.middleware.CSPMiddleware",
    "metadata_admin.middleware.NoStoreMiddleware",
    "metadata_admin.middleware.RequestIdMiddleware",
    "users.api.middleware.ApiMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "metadata_admin.middleware.HtmxLoginRedirectMiddleware",
    "metadata_admin.middleware.KeepPostOverSignInMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "metadata_admin.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "users.context_processors.tenant_switcher",
            ],
        },
    },
]

WSGI_APPLICATION = "metadata_admin.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Each worker keeps its connection a while instead of opening one per request
        # (that alone halved the API's throughput); it is checked before reuse.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Write-ahead log and a larger page cache: concurrent readers, and bulk loads that do
    # not thrash once the search leaves outgrow SQLite's 2 MB default cache.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
            ),
            "transaction_mode": "IMMEDIATE",
            # How long a write waits for SQLite's one write lock before "database is locked"
            # (Python's default is 5 s). Writes hold it for milliseconds (passwords are
            # hashed before the transaction); this covers a burst of them, or a job's chunk.
            "timeout": 20,
        }
    )
    # A file, not shared memory, for the test database: the browser tests' live server
    # answers from other threads, which must open their own connections. Beside the database
    # it tests (db.sqlite3 -> test-db.sqlite3), so two checkouts or runs can test at once.
    _sqlite_file = Path(str(DATABASES["default"]["NAME"]))
    DATABASES["default"].setdefault(
        "TEST", {"NAME": str(_sqlite_file.with_name("test-" + _sqlite_file.name))}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# New passwords (staff and end users) are PBKDF2, Django's default. bcrypt hashes come from
# Auth0 imports (`password_hash`, stored as `bcrypt$<hash>`): they verify, and a hash that is
# not the preferred kind can be upgraded when its password is next checked.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Counts failed sign-ins and locks the account and address out after too many.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "users:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# HTTPS, switched on by the environment (README, "Production"): redirect plain HTTP, and tell
# browsers to use nothing else for SECURE_HSTS_SECONDS. Off by default for local use.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy that terminates TLS, its X-Forwarded-Proto says whether the request was HTTPS.
# Only then: otherwise any client could claim it.
if env_bool("BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts, styles, images and requests from this origin
# only; no inline script or style, no eval (htmx is configured not to need them, see
# templates/base.html); nothing may frame the console, and forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        # Where browsers report violations (a URL; empty: nowhere).
        "report-uri": env_str("CSP_REPORT_URI", "") or None,
    },
}

# End-user sign-ins (docs/authentication.md): the login log is kept this many days
# (`manage.py sign_ins_prune`), and a brute-force lock on a user and an IP lasts this long.
LOGIN_LOG_DAYS = env_int("LOGIN_LOG_DAYS", 90)
BRUTE_FORCE_LOCK_MINUTES = env_int("BRUTE_FORCE_LOCK_MINUTES", 60)

# Background jobs (exports) run on `manage.py jobs_worker`; a Redis/Celery backend is a
# settings change. Their files live in JOB_FILES_DIR.
TASKS = {"default": {"BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
JOB_FILES_DIR = Path(env_str("JOB_FILES_DIR", str(BASE_DIR / "jobfiles")))
# The Management API: the largest JSON body, and each client's token bucket (requests a
# second, and how many may come at once).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
API_RATE_LIMIT_PER_SECOND = env_int("API_RATE_LIMIT_PER_SECOND", 50)
API_RATE_LIMIT_BURST = env_int("API_RATE_LIMIT_BURST", 100)

# The largest import file accepted (console and command line), in bytes.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 100 * 1024 * 1024)

# A user search that runs longer than this is stopped and reported as too expensive.
SEARCH_TIMEOUT_MS = env_int("SEARCH_TIMEOUT_MS", 3000)
# A console download (up to 10,000 users) may take this long in the database, in all.
DOWNLOAD_TIMEOUT_MS = env_int("DOWNLOAD_TIMEOUT_MS", 60_000)
# Background jobs (exports, imports, bulk edits, reverts): each SQL statement may take this long.
JOB_QUERY_TIMEOUT_MS = env_int("JOB_QUERY_TIMEOUT_MS", 120_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
