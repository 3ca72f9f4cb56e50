"""Settings for a developer's machine and `make demo`: DEBUG on, a fixed throwaway secret."""
from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="local-only-insecure-key-never-use-in-production")
PSEUDONYM_KEY = env.str("PSEUDONYM_KEY", default="local-only-pseudonym-key-never-use-in-production")
