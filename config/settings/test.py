"""Settings for the test suite: DATABASE_URL and REDIS_URL come from the environment (see Makefile)."""
import atexit
import shutil
import tempfile

from config.cache import disk_cache_settings

from .base import *  # noqa: F403
from .base import REDIS_URL, REST_FRAMEWORK

SECRET_KEY = "test-only-secret-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Throttling gets its own tests with a tiny rate; elsewhere it would only make tests flaky.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"tenant": "100000/min", "key": "100000/min"}}
PSEUDONYM_KEY = "test-only-pseudonym-key"
if not REDIS_URL:
    # The embedded shared cache, as in the demo, in a directory of this run's own.
    _cache_dir = tempfile.mkdtemp(prefix="recs-test-cache-")
    atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
    CACHES = {"default": disk_cache_settings(_cache_dir)}
