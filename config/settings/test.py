"""Settings for the test suite: DATABASE_URL and REDIS_URL come from the environment (see Makefile)."""
from .base import *  # noqa: F403
from .base import REST_FRAMEWORK

SECRET_KEY = "test-only-secret-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Throttling gets its own tests with a tiny rate; elsewhere it would only make tests flaky.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"tenant": "100000/min", "key": "100000/min"}}
PSEUDONYM_KEY = "test-only-pseudonym-key"
