"""Settings for a developer's machine and `make demo`: fixed throwaway secrets.

DEBUG stays off (error pages show no traceback, 404s list no URL patterns) unless DJANGO_DEBUG=true.
"""
from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-only-insecure-key-never-use-in-production")
PSEUDONYM_KEY = env.str("PSEUDONYM_KEY", default="local-only-pseudonym-key-never-use-in-production")
# Webhooks to a receiver on this machine (a developer's test server, the demo) are allowed here only.
RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS = env.list("RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS", default=["localhost", "127.0.0.1", "::1"])
