"""Django settings, read from environment variables.

Every variable has an embedded default under ./var, so a fresh checkout runs with
SQLite and a SqliteHuey queue file and no server to install. docs/settings.md
lists the variables.
"""

import os
import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from depositum.extras import require


def envbool(name, default):
    value = os.getenv(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false")


def envint(name, default):
    value = os.getenv(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a whole number: set it to e.g. {default}"
        ) from None


def envlist(name, default):
    value = os.getenv(name)
    if value is None:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


def envpath(name, default):
    return Path(os.getenv(name) or default).expanduser().absolute()


def read_secret_key(data_dir):
    """Return DEPOSITUM_SECRET_KEY, or a key generated once and kept in DATA_DIR."""
    key = os.getenv("DEPOSITUM_SECRET_KEY")
    if key:
        return key

    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass

    from django.core.management.utils import get_random_secret_key

    data_dir.mkdir(parents=True, exist_ok=True)
    key = get_random_secret_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


BASE_DIR = Path(__file__).resolve().parent

DATA_DIR = envpath("DEPOSITUM_DATA_DIR", "var")
DEPOSIT_DIR = envpath("DEPOSITUM_DEPOSIT_DIR", DATA_DIR / "deposits")
MEDIA_ROOT = str(envpath("DEPOSITUM_MEDIA_DIR", DATA_DIR / "media"))
# Uploaded zips and their unpacked contents wait here until a worker has ingested
# them. It must be on a file system that every worker host can reach.
UPLOAD_DIR = envpath("DEPOSITUM_UPLOAD_DIR", DATA_DIR / "uploads")

SECRET_KEY = read_secret_key(DATA_DIR)
DEBUG = envbool("DEPOSITUM_DEBUG", False)
ALLOWED_HOSTS = envlist("DEPOSITUM_ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = envlist("DEPOSITUM_CSRF_TRUSTED_ORIGINS", [])
SITE_TITLE = os.getenv("DEPOSITUM_SITE_TITLE", "depositum")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "depositum.catalogue",
    "depositum.deposits",
    "depositum.sword",
    "depositum.oai",
    "depositum.search",
    "huey.contrib.djhuey",
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
    "depositum.catalogue.middleware.content_security_policy",
]

ROOT_URLCONF = "depositum.urls"
WSGI_APPLICATION = "depositum.wsgi.application"

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
                "depositum.catalogue.context_processors.site",
            ],
        },
    },
]

DATABASE_URL = (
    os.getenv("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'depositum.sqlite3'}"
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    require("psycopg", "postgres", "A PostgreSQL DATABASE_URL")
    # PostgreSQL starts a server process for each connection: on a new
    # connection, a deposit request took 16.5 ms instead of 10.7 ms at the
    # median. A thread keeps its connection for this many seconds, and Django
    # checks it before reusing it. Ingest children come from a forkserver that
    # has opened no connection, so none is shared across a fork.
    DATABASES["default"]["CONN_MAX_AGE"] = envint("DEPOSITUM_DB_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes an ingest, and the busy
    # timeout makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": envint("DEPOSITUM_SQLITE_TIMEOUT", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # Archivematica sends the user's email address as the Basic auth user name.
    "depositum.sword.auth.UsernameOrEmailBackend",
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = str(envpath("DEPOSITUM_STATIC_DIR", DATA_DIR / "static"))
MEDIA_URL = "media/"
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}

LOGIN_URL = "admin:login"
# Behind an HTTPS reverse proxy that sets X-Forwarded-Proto: secure cookies, HSTS
# and https URLs in SWORD responses.
if envbool("DEPOSITUM_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DEPOSITUM_HSTS_SECONDS", 3600)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# The queue engine, by URL: sqlite:////path/to/file, redis://host:port/db or
# postgresql://user@host/db.
QUEUE_URL = (
    os.getenv("DEPOSITUM_QUEUE_URL") or f"sqlite:///{DATA_DIR / 'queue.sqlite3'}"
)
# Ingests that one worker process runs at once, each in a child process.
WORKER_THREADS = envint("DEPOSITUM_WORKER_THREADS", 2)
# Seconds between a worker's heartbeats while an ingest runs, and the silence
# after which the reconciler presumes the worker dead and queues the deposit
# again, up to MAX_ATTEMPTS claims in all.
HEARTBEAT_INTERVAL = envint("DEPOSITUM_HEARTBEAT_INTERVAL", 10)
STALE_AFTER = envint("DEPOSITUM_STALE_AFTER", 120)
MAX_ATTEMPTS = envint("DEPOSITUM_MAX_ATTEMPTS", 3)
# Seconds after which a queued deposit with no pending message is handed to the
# queue again, because its message was lost.
REQUEUE_AFTER = envint("DEPOSITUM_REQUEUE_AFTER", 300)

# In kB, as SWORD 1.3 states sword:maxUploadSize.
MAX_UPLOAD_SIZE_KB = envint("DEPOSITUM_MAX_UPLOAD_KB", 50 * 1024 * 1024)
# Largest METS file an ingest parses, in MB. The METS is parsed whole, and its
# tree takes several times its size in memory.
MAX_METS_MB = envint("DEPOSITUM_MAX_METS_MB", 1024)
# Seconds an upload may go without sending data before it is dropped (408).
UPLOAD_READ_TIMEOUT = envint("DEPOSITUM_UPLOAD_READ_TIMEOUT", 60)
# Slowest average rate, in kB/s, at which an upload may arrive. A slower upload
# is dropped with 408 once it has taken the time that rate allows.
UPLOAD_MIN_RATE_KB = envint("DEPOSITUM_UPLOAD_MIN_RATE_KB", 50)
# Limits on an uploaded zip, checked before it is unpacked.
ZIP_MAX_ENTRIES = envint("DEPOSITUM_ZIP_MAX_ENTRIES", 500_000)
ZIP_MAX_UNCOMPRESSED = envint("DEPOSITUM_ZIP_MAX_UNCOMPRESSED", 1024**4)
# Access copies are mostly compressed already, and METS text packs about 10:1.
ZIP_MAX_RATIO = envint("DEPOSITUM_ZIP_MAX_RATIO", 200)
# User-Agent values (case-insensitive prefixes) whose deposits receive 302 Found
# instead of 202 Accepted, because stock Archivematica records any other status,
# 202 included, as a failed upload.
SWORD_302_USER_AGENTS = envlist("DEPOSITUM_SWORD_302_USER_AGENTS", ["Archivematica"])
# After this many failed Basic logins for one user name from one address within
# the window (seconds), further attempts get 429 until the window has passed.
LOGIN_FAILURE_LIMIT = envint("DEPOSITUM_LOGIN_FAILURE_LIMIT", 10)
LOGIN_FAILURE_WINDOW = envint("DEPOSITUM_LOGIN_FAILURE_WINDOW", 300)
# Accept SWORD deposits on behalf of another user (X-On-Behalf-Of) from users
# with the permission "Can deposit on behalf of other users".
SWORD_MEDIATION = envbool("DEPOSITUM_SWORD_MEDIATION", False)
# Policy for a deposit of an AIP that is already in the catalogue: replace its
# descriptions (keeping their slugs), or reject it with 409 Conflict.
REDEPOSIT = os.getenv("DEPOSITUM_REDEPOSIT", "replace")
if REDEPOSIT not in ("replace", "reject"):
    raise ImproperlyConfigured(
        f"DEPOSITUM_REDEPOSIT={REDEPOSIT!r} is invalid: use replace or reject"
    )
# Seconds a stopping worker (SIGTERM) lets its running ingests finish before it
# stops them and hands their deposits back to the queue.
STOP_TIMEOUT = envint("DEPOSITUM_STOP_TIMEOUT", 60)
# Remove the DIP from the deposit directory once it has been ingested.
DELETE_DEPOSITED_DIPS = envbool("DEPOSITUM_DELETE_DEPOSITED_DIPS", True)
# Publication status of new descriptions: published or draft. Anonymous visitors
# see only published descriptions.
DEFAULT_PUBLICATION_STATUS = os.getenv("DEPOSITUM_PUBLICATION_STATUS", "published")
if DEFAULT_PUBLICATION_STATUS not in ("published", "draft"):
    raise ImproperlyConfigured(
        f"DEPOSITUM_PUBLICATION_STATUS={DEFAULT_PUBLICATION_STATUS!r} is invalid:"
        " use published or draft"
    )

# The OAI-PMH provider at /oai (docs/oai-pmh.md). Record identifiers are
# oai:<repository identifier>:<slug>, so the repository identifier must stay the
# same for the life of the catalogue.
OAI_REPOSITORY_IDENTIFIER = (
    os.getenv("DEPOSITUM_OAI_REPOSITORY_IDENTIFIER") or socket.getfqdn()
).lower()
OAI_ADMIN_EMAILS = envlist("DEPOSITUM_OAI_ADMIN_EMAILS", [])
OAI_PAGE_SIZE = envint("DEPOSITUM_OAI_PAGE_SIZE", 100)
OAI_TOKEN_LIFETIME = envint("DEPOSITUM_OAI_TOKEN_LIFETIME", 24 * 3600)
if OAI_PAGE_SIZE < 1:
    raise ImproperlyConfigured(
        f"DEPOSITUM_OAI_PAGE_SIZE={OAI_PAGE_SIZE} is invalid: use 1 or more, e.g. 100"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {
        "handlers": ["console"],
        "level": os.getenv("DEPOSITUM_LOG_LEVEL", "INFO"),
    },
    "loggers": {
        "huey": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# Huey's Django integration (huey.contrib.djhuey) reads this instance.
from depositum.queue import huey_from_url  # noqa: E402

HUEY = huey_from_url(QUEUE_URL)
