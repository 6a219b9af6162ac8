"""Settings for the scheduler, read from the environment (and a local .env file, if present).

Every variable is documented in README.md and .env.example. Bad values stop start-up with a
message naming the variable.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from channels.networks import settings_from_env as network_settings_from_env
from channels.networks import static_dirs as network_static_dirs
from channels.networks import template_dirs as network_template_dirs
from scheduler_project.env import (
    database_from_url,
    email_from_url,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def _load_dotenv(path: Path) -> None:
    """KEY=VALUE lines from .env, never overriding the real environment."""
    if not path.is_file():
        return
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


_load_dotenv(Path(os.environ.get("ENV_FILE", BASE_DIR / ".env")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (any long random string).")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names this site is served under.")

SITE_URL = env_url("SITE_URL", "http://localhost:8000", schemes=("http", "https"))
SITE_NAME = env_str("SITE_NAME", "Open Scheduler")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

# Keys for secrets at rest (tokens, sessions, app passwords): Fernet keys, newest first.
# Rotation: put a new key first, keep the old ones, run `manage.py rotate_secrets`, then drop the old keys.
SECRET_ENCRYPTION_KEYS = env_list("SECRET_ENCRYPTION_KEYS")
if not SECRET_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_ENCRYPTION_KEYS must be set when DEBUG is off: a comma-separated list of Fernet keys "
            "(create one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        )
    import base64
    import hashlib

    SECRET_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
for _index, _key in enumerate(SECRET_ENCRYPTION_KEYS):
    try:
        from cryptography.fernet import Fernet

        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            f"SECRET_ENCRYPTION_KEYS entry {_index + 1} is not a valid Fernet key "
            "(32 url-safe base64-encoded bytes, 44 characters)."
        ) from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_rq",
    "workspaces",
    "channels",
    "posts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "scheduler_project.urls"
WSGI_APPLICATION = "scheduler_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates", *network_template_dirs()],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "workspaces.context_processors.workspaces",
                "posts.context_processors.notifications",
                "channels.context_processors.network_names",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": database_from_url("DATABASE_URL", DATABASE_URL)}
# A PostgreSQL that takes the connection and never answers: give up after this many seconds (libpq's
# minimum is 2) instead of holding every page, /healthz and the workers for the OS's TCP timeout.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=2)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Unset means "embedded": `make run` and the test suite start a bundled Redis and set REDIS_URL for
# every process they launch. A process started by hand without it talks to the default local port.
REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss", "unix"))
# A Redis that takes the connection and never answers: every command gives up after REDIS_TIMEOUT
# seconds. django-rq passes nothing but the URL to redis-py, so the timeouts travel in its query string
# (a value already in REDIS_URL wins). RQ workers wait for jobs in blocking calls of a couple of seconds
# and lift their own connection's socket timeout above that wait (posts/workers.py).
REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 5.0, minimum=1.0)


def _with_redis_timeouts(url: str, timeout: float) -> str:
    from urllib.parse import parse_qsl, urlencode

    base, _, query = url.partition("?")
    # Connections idle for half a minute are pinged before use, so one dropped while Redis restarted
    # is replaced instead of failing the next command.
    defaults = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "health_check_interval": 30}
    return f"{base}?{urlencode({**{k: f'{v:g}' for k, v in defaults.items()}, **dict(parse_qsl(query))})}"


RQ_QUEUES = {
    "default": {"URL": _with_redis_timeouts(REDIS_URL, REDIS_TIMEOUT), "DEFAULT_TIMEOUT": 300},
}
RQ = {"COMMIT_MODE": "auto"}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Counters every web process must share (log-in throttling): the project's Redis, its own key prefix.
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _with_redis_timeouts(REDIS_URL, REDIS_TIMEOUT),
        "KEY_PREFIX": "throttle",
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workspaces:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static", *network_static_dirs()]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs `collectstatic`, which deployments run (see README); dev and tests don't.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Serve static files from the apps' folders when they were not collected (make run, tests).
WHITENOISE_USE_FINDERS = not env_bool("STATIC_MANIFEST", not DEBUG)

MAILERS = {"default": email_from_url("EMAIL_URL", env_str("EMAIL_URL"))}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "scheduler@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

INVITATION_DAYS = env_int("INVITATION_DAYS", 7, minimum=1)
# Who may create an account. closed: only the operator (createsuperuser, the admin); invitations add
# people who already have an account. invite-only: invitation links also create accounts. open: anyone,
# at /accounts/signup/ (and invitation links too).
SIGNUP = env_choice("SIGNUP", "closed", choices=("closed", "invite-only", "open"))
# Largest image a user may upload (the composer and the API refuse bigger ones beside the field).
MEDIA_MAX_UPLOAD_BYTES = env_int("MEDIA_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
# Requests per minute one API token may make (0 turns the limit off).
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120, minimum=0)
# Failed log-ins allowed per account and per client address, and password-reset requests per email
# address and per client address, within LOGIN_THROTTLE_MINUTES; past them the form answers 429 until
# the window ends. 0 turns a limit off.
LOGIN_THROTTLE_MINUTES = env_int("LOGIN_THROTTLE_MINUTES", 15, minimum=1)
LOGIN_FAILURES_PER_ACCOUNT = env_int("LOGIN_FAILURES_PER_ACCOUNT", 10, minimum=0)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 50, minimum=0)
PASSWORD_RESETS_PER_EMAIL = env_int("PASSWORD_RESETS_PER_EMAIL", 5, minimum=0)
PASSWORD_RESETS_PER_ADDRESS = env_int("PASSWORD_RESETS_PER_ADDRESS", 20, minimum=0)

# Outgoing requests to user-supplied URLs (instances, PDSes, link cards) refuse private, loopback and
# link-local addresses unless this is on (development against local servers, and the test suite).
SSRF_ALLOW_PRIVATE = env_bool("SSRF_ALLOW_PRIVATE", False)

# Each network's own settings (THREADS_*, BLUESKY_*...): see its package's settings.py.
globals().update(network_settings_from_env())

# Publishing engine.
PUBLISH_MAX_ATTEMPTS = env_int("PUBLISH_MAX_ATTEMPTS", 6, minimum=1)
# First retry delay in seconds; each further retry waits four times longer (capped at an hour), +-20%.
PUBLISH_RETRY_BASE = env_float("PUBLISH_RETRY_BASE", 30.0, minimum=0.0)
# How often the dispatcher looks for due deliveries, and how long a handed-out delivery may wait in
# Redis or stay "publishing" before the sweeper assumes its job or worker was lost.
DISPATCH_INTERVAL = env_float("DISPATCH_INTERVAL", 0.25, minimum=0.01)
PUBLISH_JOB_TIMEOUT = env_int("PUBLISH_JOB_TIMEOUT", 300, minimum=10)
SWEEP_QUEUED_AFTER = env_int("SWEEP_QUEUED_AFTER", 60, minimum=1)
# A worker process (manage.py run_workers) that has not beaten for this many seconds is gone: the
# sweeper recovers what it was publishing without waiting for the job timeout, and /healthz and the
# overview count it as stopped (posts/liveness.py).
WORKER_LOST_AFTER = env_int("WORKER_LOST_AFTER", 30, minimum=2)
# Metrics are refreshed hourly for posts published in the last this many days.
METRICS_DAYS = env_int("METRICS_DAYS", 7, minimum=1)
NETWORK_TIMEOUT = env_float("NETWORK_TIMEOUT", 30.0, minimum=1.0)
# gunicorn's worker timeout (the Procfile passes it as --timeout): a web request still running after it
# is killed, and its visitor sees an error page. Pages that call a network (connecting a channel,
# "Check connection") give up on it after WEB_NETWORK_DEADLINE seconds in all, leaving time to answer.
WEB_TIMEOUT = env_int("WEB_TIMEOUT", 30, minimum=2)
WEB_NETWORK_DEADLINE = env_float("WEB_NETWORK_DEADLINE", float(round(WEB_TIMEOUT * 2 / 3)), minimum=1.0)
if WEB_NETWORK_DEADLINE >= WEB_TIMEOUT:
    raise ImproperlyConfigured(
        f"WEB_NETWORK_DEADLINE ({WEB_NETWORK_DEADLINE:g} s) must be below WEB_TIMEOUT ({WEB_TIMEOUT} s, "
        "gunicorn's worker timeout), with time to spare for the rest of the request."
    )
# A dispatcher heartbeat, or the RQ heartbeat of a plain `manage.py rqworker` (which does not beat in
# the database), older than this marks it as down on /healthz and the overview (posts/liveness.py).
WORKER_HEARTBEAT_MAX_AGE = env_int("WORKER_HEARTBEAT_MAX_AGE", 120, minimum=10)

# A reverse proxy in front: trust its X-Forwarded-Proto, and take the client's address (for log-in
# throttling) from the last X-Forwarded-For entry, the one the proxy added.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)

# Security headers and cookies: on whenever DEBUG is off.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; harmless either way.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", SITE_URL.startswith("https://"))
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # An https SITE_URL behind a proxy that says which requests came in over https: send plain http
    # on to https, and tell browsers to stay on https for a year (HSTS is only sent on https answers).
    # Without BEHIND_PROXY every request looks like plain http, so redirecting would loop.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SITE_URL.startswith("https://") and BEHIND_PROXY)
    # The proxy's or load balancer's health probe speaks plain http.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int(
        "SECURE_HSTS_SECONDS", 365 * 24 * 3600 if SITE_URL.startswith("https://") else 0, minimum=0
    )
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    # Avatars and link-card images come from the networks (https); local test servers speak http.
    "img-src": [CSP.SELF, "data:", "https:", *(["http:"] if SSRF_ALLOW_PRIVATE else [])],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Paths are logged (django.request's 4xx/5xx lines, runserver's requests): mask the secret ones.
    "filters": {"secret_urls": {"()": "scheduler_project.secret_urls.MaskSecretURLs"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secret_urls"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (its DEBUG console, mail_admins, runserver's) would write paths
        # unmasked: everything goes through the one filtered console handler instead.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "INFO"},
        # These libraries can log request URLs and headers at DEBUG; keep tokens out of logs.
        "httpx": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

AUTHENTICATION_BACKENDS = ["workspaces.backends.EmailOrUsernameBackend"]

# REST API (api/, django-ninja). "ninja" is listed for its bundled Swagger UI static files.
INSTALLED_APPS += ["ninja", "api"]
