"""Settings shared by every environment. Values come from the environment through django-environ."""
from __future__ import annotations

from pathlib import Path

import environ

from config.cache import disk_cache_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
# A .env file is optional; real deployments set the environment (see platform/env.example).
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("RECS_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as our own static files: no CDN, pinned versions
    "django_celery_results",
    "tenants",
    "reranking",
    "worker",
    "axes",
]

# Session, auth and messages run for web pages only: /api/v1/ authenticates with API keys (tenants/middleware.py).
MIDDLEWARE = [
    "tenants.middleware.RequestIdMiddleware",
    "tenants.middleware.DatabaseUnavailableMiddleware",
    "tenants.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "tenants.middleware.BrowserAuthenticationMiddleware",
    "tenants.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.BrowserAxesMiddleware",  # last, as django-axes asks
]

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

# --- Database ---------------------------------------------------------------------------------
# The demo runs on an embedded SQLite file; CI and production set DATABASE_URL to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 60)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes write the demo's file at once (web processes, worker, beat). WAL lets readers
    # go on while one writes; IMMEDIATE takes the write lock when a transaction starts, so two
    # transactions that read then write never deadlock (SQLite would fail one at once, not wait);
    # the busy timeout queues writers. A writer still waiting after it gets 503 database_unavailable.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("RECS_SQLITE_BUSY_TIMEOUT", 20),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# --- Cache ------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # One redis client per pool instead of one per call (config/redis_cache.py). Short socket timeouts: an
    # unreachable Redis must fail fast so requests degrade (reranking/services/cache.py) instead of hanging.
    # https://docs.djangoproject.com/en/5.2/topics/cache/#redis
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
else:
    # Without Redis every process on this machine shares one on-disk cache (config/cache.py), so
    # invalidations and counters work as they do with Redis. A per-process cache (LocMem) would not.
    CACHES = {"default": disk_cache_settings(env.str("RECS_CACHE_DIR", default=str(VAR_DIR / "cache")))}

# --- Pseudonymous end-user ids ----------------------------------------------------------------
# The server-side half of each tenant's HMAC key (reranking/services/identity.py); the other half is a
# random salt in the database, so a database dump alone cannot reverse hashed ids. Required in
# production; changing it orphans every hashed id, like losing a key.
PSEUDONYM_KEY = env.str("PSEUDONYM_KEY", default="")
# Served-recommendation log (reranking/services/served_log.py): Redis list flushed by a beat task.
RECS_SERVED_LOG_KEY = "recs:served-log"
RECS_SERVED_LOG_FLUSH_BATCH = env.int("RECS_SERVED_LOG_FLUSH_BATCH", 5000)

# --- Auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- Login throttling (django-axes) ----------------------------------------------------------
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# A username is locked from one address after AXES_FAILURE_LIMIT wrong passwords, for AXES_COOLOFF_TIME
# hours (by username and address together, so nobody can lock an owner out from elsewhere).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", 0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Its middleware runs as tenants.middleware.BrowserAxesMiddleware (a subclass that skips the API), which
# the check, looking for the exact path, does not see.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Model artifacts (safetensors + JSON) live under MEDIA_ROOT/models/<tenant>/<version>/.
MEDIA_ROOT = Path(env.str("RECS_MEDIA_ROOT", default=str(VAR_DIR / "media")))

# --- Uploads ----------------------------------------------------------------------------------
# A 10,000-row batch of events or items is a few MB of JSON; refuse anything far beyond that.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("RECS_MAX_REQUEST_BYTES", 20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
RECS_MAX_BATCH = 10_000

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.TenantAndKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "tenant": env.str("RECS_TENANT_RATE", default="6000/min"),
        "key": env.str("RECS_KEY_RATE", default="3000/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.Pages",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.TenantAutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    # orjson, and no Accept parsing for "*/*" or JSON: same output, less CPU (tenants/api/renderers.py).
    "DEFAULT_RENDERER_CLASSES": ["tenants.api.renderers.FastJSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tenants.api.renderers.JSONFirstNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Recs re-ranking platform API",
    "DESCRIPTION": "Catalogue, interactions, recommendations and re-ranking for one tenant per API key.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Separate request components, so the schema says which strings may not be blank (minLength).
    "COMPONENT_SPLIT_REQUEST": True,
    # https://drf-spectacular.readthedocs.io/en/latest/settings.html (served by whitenoise, works offline)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# /health shows per-model counts (across tenants) only to staff or to a request carrying this token
# in X-Health-Token; the public sees up/down of database, cache and broker. Empty: staff only.
RECS_HEALTH_TOKEN = env.str("RECS_HEALTH_TOKEN", default="")

# --- Celery -----------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# With no broker configured (the demo) a real worker still runs, over kombu's filesystem transport.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
    }
    (_queue_dir / "queue").mkdir(parents=True, exist_ok=True)
else:
    # Redis: a message taken by a worker that then died (SIGKILL, host lost) goes back to the queue once
    # it has been unacknowledged this long. Keep it above the longest task (training), or a slow run is
    # delivered twice (harmless: claiming is idempotent, but it wastes a worker meanwhile).
    # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "django-db")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
# A task whose worker died is re-queued instead of being lost (acks_late alone acks on failure).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 3600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 3900)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"worker.tasks.train_reranker": {"queue": "training"}}
CELERY_TASK_ALWAYS_EAGER = False

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Training and precompute ------------------------------------------------------------------
# A running run whose heartbeat is older than this is failed by the reaper (its worker died).
RECS_RUN_STALE_SECONDS = env.int("RECS_RUN_STALE_SECONDS", 120)
# A queued run no worker has claimed after this long is sent to the queue again (lost message).
RECS_QUEUED_RESEND_SECONDS = env.int("RECS_QUEUED_RESEND_SECONDS", 1800)
RECS_TRAINING_SOFT_LIMIT = env.int("RECS_TRAINING_SOFT_LIMIT", 3 * 3600)
# Users per precompute task; more shards spread over more workers.
RECS_PRECOMPUTE_SHARD_USERS = env.int("RECS_PRECOMPUTE_SHARD_USERS", 1000)
# A training run with more stale item texts than this cuts them into chunks of this size that idle
# workers embed too (reranking/services/embeddings.embed_chunks).
RECS_EMBED_CHUNK_ITEMS = env.int("RECS_EMBED_CHUNK_ITEMS", 5000)
# MiniLM's Linear layers in int8 on CPU (opt-in): a third less CPU than float32 at cosine ~0.98-0.99 to its
# vectors (reranking/ml/text.py, reranking/ml/EXPERIMENTS.md). Off until a full bench/quality.py run
# confirms it. Stored vectors are keyed by variant, so turning it on or off re-embeds every text once.
# The ML core without Django reads the same variable.
RECS_EMBED_INT8 = env.bool("RECS_EMBED_INT8", False)
# A training run whose test sample (at most max_eval_users, 5,000) has more users than this scores them
# in chunks of this size that idle workers score too (reranking/services/eval_chunks.py).
RECS_EVAL_CHUNK_USERS = env.int("RECS_EVAL_CHUNK_USERS", 2500)
# Hyper-parameter overrides for every tenant (JSON), e.g. {"max_epochs": 3} for quick demos and tests.
RECS_TRAINING_OVERRIDES = env.json("RECS_TRAINING_OVERRIDES", default={})
# --- Webhooks (docs/webhooks.md) --------------------------------------------------------------
# A webhook URL must resolve to public addresses only (no loopback, private, link-local: the worker must
# not be turned against the internal network). Hosts listed here are exempt; local.py adds localhost.
RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS = env.list("RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS", default=[])
RECS_WEBHOOK_TIMEOUT = env.float("RECS_WEBHOOK_TIMEOUT", 10.0)  # seconds per try
# Tries after the first failed one, waiting RECS_WEBHOOK_BACKOFF seconds, then twice that, ... (at most 1 h,
# with jitter): 8 retries at 30 s span about 2 hours.
RECS_WEBHOOK_MAX_RETRIES = env.int("RECS_WEBHOOK_MAX_RETRIES", 8)
RECS_WEBHOOK_BACKOFF = env.int("RECS_WEBHOOK_BACKOFF", 30)
CELERY_BEAT_SCHEDULE = {
    "schedule-retraining": {"task": "worker.tasks.schedule_retraining", "schedule": 300.0},
    "reap-stale-runs": {"task": "worker.tasks.reap_stale_runs", "schedule": 60.0},
    "retry-overdue-erasures": {"task": "worker.tasks.retry_overdue_erasures", "schedule": 600.0},
    "delete-expired-events": {"task": "worker.tasks.delete_expired_events", "schedule": 24 * 3600.0},
    "flush-served-log": {"task": "worker.tasks.flush_served_log", "schedule": 30.0},
}
