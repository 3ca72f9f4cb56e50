"""Production settings pass Django's deployment checklist and refuse to start without their secrets."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "PSEUDONYM_KEY"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env},
        capture_output=True, text=True, timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = run_check(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="recs.example.com",
        DATABASE_URL="postgres://recs@db.invalid:5432/recs", PSEUDONYM_KEY=secrets.token_urlsafe(50),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_check(DJANGO_ALLOWED_HOSTS="recs.example.com", DATABASE_URL="postgres://recs@db.invalid:5432/recs",
                       PSEUDONYM_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_a_pseudonym_key():
    result = run_check(DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="recs.example.com",
                       DATABASE_URL="postgres://recs@db.invalid:5432/recs")
    assert result.returncode != 0
    assert "PSEUDONYM_KEY" in result.stderr
