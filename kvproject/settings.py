"""Django settings for kvstore: every knob comes from the environment (see README, Configuration)."""

from pathlib import Path

from kvapp.store import uses_redis
from kvproject.env import env_bool, env_int, env_list, env_str, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

MIB = 1024 * 1024

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = secret_key(Path(env_str("DJANGO_SECRET_KEY_FILE", str(BASE_DIR / "secret_key.txt"))))
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "daphne",  # first, so `runserver` is daphne's ASGI server
    "django.contrib.staticfiles",
    "channels",
    "kvapp.apps.KVAppConfig",
]

# No session, auth or CSRF middleware: the API authenticates with a bearer token, never a
# cookie, so there is nothing for CSRF to protect and no per-request session work to pay for.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kvproject.urls"
ASGI_APPLICATION = "kvproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES: dict = {}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

USE_TZ = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# --- kvstore -------------------------------------------------------------------------------
KV_DATA = env_str("KV_DATA", str(BASE_DIR / "store.pickle"))
KV_BACKEND = env_str("KV_BACKEND", "")  # "" or "pickle" = pickle file; redis://HOST:PORT/DB = Redis
KV_TOKEN = env_str("KV_TOKEN", "")
KV_HISTORY = env_int("KV_HISTORY", 100_000, minimum=1)  # events kept for watch resume and reads at a revision
KV_MAX_KEY_BYTES = env_int("KV_MAX_KEY_BYTES", 1024, minimum=1)
KV_MAX_VALUE_BYTES = env_int("KV_MAX_VALUE_BYTES", 1 * MIB, minimum=0)
KV_MAX_BODY_BYTES = env_int("KV_MAX_BODY_BYTES", 8 * MIB, minimum=1024)  # JSON may escape 6x
KV_JOURNAL_MAX_BYTES = env_int("KV_JOURNAL_MAX_BYTES", 64 * MIB, minimum=1)
KV_MAX_WATCHERS = env_int("KV_MAX_WATCHERS", 10_000, minimum=1)
KV_MAX_WATCHERS_PER_CLIENT = env_int("KV_MAX_WATCHERS_PER_CLIENT", 2_000, minimum=1)
KV_TXN_MAX_OPS = env_int("KV_TXN_MAX_OPS", 128, minimum=1)  # compares, and ops per branch
KV_MAX_LEASES = env_int("KV_MAX_LEASES", 100_000, minimum=1)  # live leases
KV_LEASE_MAX_TTL = env_int("KV_LEASE_MAX_TTL", 86_400, minimum=1)  # seconds
# Unsent events a watcher may hold before it is closed as too slow (4408): 8 MiB.
KV_WATCH_BUFFER_BYTES = env_int("KV_WATCH_BUFFER_BYTES", 8 * MIB, minimum=1)

DATA_UPLOAD_MAX_MEMORY_SIZE = KV_MAX_BODY_BYTES

if uses_redis(KV_BACKEND):  # a bad URL stops the start when the store opens
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "kvapp.watch.redis_layer.ResilientPubSubChannelLayer",  # pubsub, surviving a Redis restart
            "CONFIG": {"hosts": [KV_BACKEND]},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "kvapp.watch.layers.SharedMessageChannelLayer",  # no deepcopy per watcher
            "CONFIG": {"capacity": 1000},
        }
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"one_line": {"()": "kvapp.server.log_filters.OneLineExceptions"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "console_one_line": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["one_line"]},
    },
    "loggers": {
        "kvapp": {"handlers": ["console"], "level": env_str("KV_LOG_LEVEL", "INFO"), "propagate": False},
        # A traceback per retry while Redis is away; kvapp already says so (see kvapp.server.log_filters).
        "channels_redis": {"handlers": ["console_one_line"], "level": "WARNING", "propagate": False},
    },
}
