"""Settings of the embedded default: production-like unless a developer opts in; SQLite for several writers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.embedded


def local_setting(expression: str, **env: str) -> str:
    """Evaluate `expression` in config.settings.local in a fresh process with this environment."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_DEBUG", "DATABASE_URL", "REDIS_URL")}
    code = f"import config.settings.local as s; print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, check=True, timeout=120).stdout.strip()


def test_the_demo_shows_no_debug_pages_unless_a_developer_opts_in():
    assert local_setting("s.DEBUG") == "False"
    assert local_setting("s.DEBUG", DJANGO_DEBUG="true") == "True"


def test_the_embedded_database_takes_write_locks_up_front_and_waits_for_them():
    options = local_setting("s.DATABASES['default']['OPTIONS']")
    assert "'transaction_mode': 'IMMEDIATE'" in options and "'timeout': 20" in options
    assert "journal_mode=WAL" in options


def test_the_embedded_cache_is_shared_on_disk():
    assert local_setting("s.CACHES['default']['BACKEND']") == "diskcache.DjangoCache"
