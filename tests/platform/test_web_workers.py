"""Web processes are threaded by default, so a process's concurrent live lists can be scored together."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "platform" / "gunicorn.conf.py"
pytestmark = pytest.mark.embedded


def settings_with(monkeypatch, **env: str) -> dict:
    monkeypatch.delenv("WEB_THREADS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_web_processes_serve_several_requests_at_once_by_default(monkeypatch):
    conf = settings_with(monkeypatch)
    assert (conf["worker_class"], conf["threads"]) == ("gthread", 4)


def test_one_thread_gives_sync_workers(monkeypatch):
    conf = settings_with(monkeypatch, WEB_THREADS="1")
    assert (conf["worker_class"], conf["threads"]) == ("sync", 1)
