"""Plumbing shared by the benchmarks: a PostgreSQL database, Django, gunicorn and Celery workers."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "ml-latest-small"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/recs_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist yet."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    admin.close()


def setup_django(database_url: str, **extra_env: str) -> dict:
    """Point this process (and the children it starts) at PostgreSQL, migrate, and return the env."""
    if not database_url.startswith("postgres"):
        raise SystemExit(f"The benchmarks run on PostgreSQL; DATABASE_URL is {database_url}")
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url, **extra_env,
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    ensure_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (Linux /proc; empty when it is gone)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, env: dict, wait: float = 60) -> subprocess.Popen:
    """Start gunicorn as the web process does and wait (up to `wait` seconds) until /health answers."""
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would stall the server
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "platform/gunicorn.conf.py", "config.wsgi"],
        cwd=ROOT,
        env={**env, "PORT": str(port), "WEB_ACCESS_LOG": "/dev/null"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"gunicorn exited:\n{log.read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer /health within {wait:.0f} s")


def start_worker(name: str, env: dict, queues: str = "default,training", log=None) -> subprocess.Popen:
    """Start one real Celery worker process named `name@host` and wait until it answers ping.

    It runs in its own process group, so os.killpg(proc.pid, SIGKILL) kills it with its pool children.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "-c", "1", "-n", f"{name}@%h",
         "--loglevel", "INFO" if log else "WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT if log else None,
    )
    from config.celery_app import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker {name} exited with {proc.returncode}")
        replies = app.control.ping(destination=None, timeout=1.0) or []
        if any(host.startswith(f"{name}@") for reply in replies for host in reply):
            return proc
    raise SystemExit(f"worker {name} did not answer ping within 60 s")


def start_workers(count: int, env: dict | None = None, prefix: str = "bench") -> list[subprocess.Popen]:
    """Start `count` real Celery workers (one process each) and wait until they answer ping."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,training", "-c", "1",
             "-n", f"{prefix}{n}@%h", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env or os.environ.copy(), start_new_session=True,
        )
        for n in range(count)
    ]
    from config.celery_app import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return procs
    raise SystemExit("workers did not start")
