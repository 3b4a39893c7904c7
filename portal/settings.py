"""Settings for the portal. Every value can be set from the environment; the
defaults run the whole portal on one machine with no server to install first.
README.md has the table of every setting."""
import os
import socket
from pathlib import Path

from portal.embedded_db import database_settings, ensure_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))


def env(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


DEBUG = env_bool("DJANGO_DEBUG", True)
# The default key is for a developer machine only; production sets its own.
SECRET_KEY = env("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
ALLOWED_HOSTS = env("DJANGO_ALLOWED_HOSTS", "*").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_celery_results",
    "portal",
    "jobs",
    "credits",
    "datasets",
    "meshing",
    "research",
    "modal_stubs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ from STATIC_ROOT under the real WSGI server (runportal collects it).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": database_settings(ensure_database_url(VAR_DIR / "pgdata"))}
# psycopg's connection pool: bounded connections per process (issue #3).
if env_bool("DB_POOL", True):
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DB_POOL_MIN_SIZE", 1),
            "max_size": env_int("DB_POOL_MAX_SIZE", 8),
            "timeout": env_int("DB_POOL_TIMEOUT", 30),
        }
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing directory
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", VAR_DIR / "media"))

# --- Storage --------------------------------------------------------------
# Filesystem by default; S3 or R2 (any S3-compatible endpoint) when a bucket is set.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", "us-east-1")
AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 3600)
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 25000)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
# Issue 3 (datasets): memory-or-disk decided per file, not per request, so that a batch of
# 21,000 small files does not open 21,000 temporary files; see datasets/uploads.py.
FILE_UPLOAD_HANDLERS = ["datasets.uploads.SpooledUploadHandler"]
UPLOAD_BATCH_MEMORY_BYTES = env_int("UPLOAD_BATCH_MEMORY_BYTES", 256 * 1024 * 1024)

# --- Celery ---------------------------------------------------------------


def _redis_reachable(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=0.3):
            return True
    except OSError:
        return False


# The Redis a fresh machine tries first; CELERY_BROKER_URL, when set, wins outright.
CELERY_REDIS_URL = env("CELERY_REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or (
    CELERY_REDIS_URL if _redis_reachable(CELERY_REDIS_URL) else "filesystem://"
)
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 2)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "portal")
CELERY_BEAT_POLL_SECONDS = env_float("CELERY_BEAT_POLL_SECONDS", 5.0)

# --- Cache ----------------------------------------------------------------
# Shared between processes (rate limits, poller cursors): Redis when reachable,
# else files under var/cache, which every process on this machine sees too.
CACHE_REDIS_URL = env("CACHE_REDIS_URL", "redis://127.0.0.1:6379/1")
CACHE_KEY_PREFIX = env("CACHE_KEY_PREFIX", "portal")
if _redis_reachable(CACHE_REDIS_URL):
    _default_cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_REDIS_URL}
else:
    _default_cache = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
CACHES = {"default": {**_default_cache, "KEY_PREFIX": CACHE_KEY_PREFIX}}

# --- Compute --------------------------------------------------------------
# "stub" runs Modal calls on this machine through modal_stubs; "modal" uses Modal's cloud.
MODAL_BACKEND = env("MODAL_BACKEND", "stub")
MODAL_APP_NAME = env("MODAL_APP_NAME", "modal-ops-portal")
# The app the stub behaves as if deployed; a lookup of any other app fails as on Modal.
MODAL_STUB_DEPLOYED_APP = env("MODAL_STUB_DEPLOYED_APP", MODAL_APP_NAME)
MODAL_MAX_CONTAINERS = env_int("MODAL_MAX_CONTAINERS", 100)
MODAL_STUB_CONTAINERS = env_int("MODAL_STUB_CONTAINERS", 2)  # the stub worker's cap on one machine
MODAL_STUB_RESULT_TTL_SECONDS = env_int("MODAL_STUB_RESULT_TTL_SECONDS", 7 * 24 * 3600)
# Public base URL of the portal, used to build the signed URLs that compute functions call back on.
PORTAL_BASE_URL = env("PORTAL_BASE_URL", "http://127.0.0.1:8000")
JOB_CALLBACK_MAX_AGE_SECONDS = env_int("JOB_CALLBACK_MAX_AGE_SECONDS", 24 * 3600)
JOB_POLL_BATCH_SIZE = env_int("JOB_POLL_BATCH_SIZE", 500)
JOB_DISPATCH_BATCH_SIZE = env_int("JOB_DISPATCH_BATCH_SIZE", 500)
JOB_DEFAULT_DEADLINE_SECONDS = env_int("JOB_DEFAULT_DEADLINE_SECONDS", 3600)
# get() calls in flight at once per poller tick: each is a round trip (to Modal, or to the
# stub's database), so a few threads overlap their waits.
JOB_POLL_CONCURRENCY = env_int("JOB_POLL_CONCURRENCY", 16 if MODAL_BACKEND == "modal" else 4)
# How long a collect task waits for the result of a call whose function reported it finished.
JOB_COLLECT_WAIT_SECONDS = env_float("JOB_COLLECT_WAIT_SECONDS", 10.0)
ARTIFACT_URL_MAX_AGE_SECONDS = env_int("ARTIFACT_URL_MAX_AGE_SECONDS", 24 * 3600)
ARTIFACT_MAX_BYTES = env_int("ARTIFACT_MAX_BYTES", 100 * 1024 * 1024)  # checkpoint size cap (seed 004)
# Price table for estimated cost, in USD per second of compute (Modal's published per-second rates).
COMPUTE_PRICES_PER_SECOND = {
    "cpu": env_float("PRICE_CPU_CORE_SECOND", 0.0000131),
    "memory_gib": env_float("PRICE_MEMORY_GIB_SECOND", 0.00000222),
    "gpu:T4": env_float("PRICE_GPU_T4_SECOND", 0.000164),
    "gpu:A10G": env_float("PRICE_GPU_A10G_SECOND", 0.000306),
    "gpu:L4": env_float("PRICE_GPU_L4_SECOND", 0.000222),
    "gpu:A100": env_float("PRICE_GPU_A100_SECOND", 0.000583),
    "gpu:H100": env_float("PRICE_GPU_H100_SECOND", 0.001097),
    "celery_second": env_float("PRICE_CELERY_SECOND", 0.0000069),
}

# --- Documents ------------------------------------------------------------
DOCUMENT_MAX_BYTES = env_int("DOCUMENT_MAX_BYTES", 50 * 1024 * 1024)
DOCUMENT_MAX_PAGES = env_int("DOCUMENT_MAX_PAGES", 500)
DOCLING_ARTIFACTS_PATH = env("DOCLING_ARTIFACTS_PATH", "")
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", "local")  # "local" (MiniLM) or "openai"
EMBEDDING_DIMENSIONS = 384
OPENAI_API_KEY = env("OPENAI_API_KEY", "")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "") or None
OPENAI_EMBEDDING_MODEL = env("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
OPENAI_REQUESTS_PER_MINUTE = env_int("OPENAI_REQUESTS_PER_MINUTE", 3000)
# Requests per minute shared by all workers (jobs.ratelimit), per provider bucket.
RATE_LIMITS_PER_MINUTE = {"openai": OPENAI_REQUESTS_PER_MINUTE}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}
