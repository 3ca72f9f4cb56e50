"""Fixtures for training tests: a small generated shop, quick training settings, real worker processes."""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from bench.faults.servers import wait_until
from reranking.demo_data import generate
from reranking.services.catalogue import upsert_items
from reranking.services.ingest import ingest_events

ROOT = Path(__file__).resolve().parents[2]
# Few epochs: these tests check the pipeline, not model quality (tests/ml and bench/ do that).
QUICK = {"max_epochs": 1, "patience": 1, "max_train_lists": 2000, "crossfit_folds": 2, "n_negatives": 64}


def load_small_shop(tenant, n_users: int = 60, seed: int = 3) -> None:
    items, events = generate(seed=seed, n_users=n_users, lines_per_category=4)
    upsert_items(tenant, items)
    result = ingest_events(tenant, events)
    assert not result.errors, result.errors[:3]


@pytest.fixture
def quick_training(settings, tmp_path):
    settings.RECS_TRAINING_OVERRIDES = QUICK
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture
def shop(alice, quick_training):
    load_small_shop(alice.tenant)
    return alice


class WorkerProcess:
    """A real worker, started by platform/start-worker.sh as in production, on the test database and broker."""

    def __init__(
        self, name: str, media_root: Path, extra_env: dict[str, str] | None = None, queues: str = "default,training"
    ) -> None:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
            "RECS_MEDIA_ROOT": str(media_root),
            "RECS_TRAINING_OVERRIDES": json.dumps(QUICK),
            "OMP_NUM_THREADS": "1",
            "VENV": str(Path(sys.executable).parent.parent),
            "WORKER_QUEUES": queues,
            "WORKER_NAME": name,
            "WORKER_CONCURRENCY": "1",
            "WORKER_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.name = name
        self.log = open(media_root.parent / f"{name}.log", "w")
        self.proc = subprocess.Popen(
            ["bash", str(ROOT / "platform" / "start-worker.sh")],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as a host failure would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()


# The fault scripts' poll loop, polling every half second here.
wait_for = functools.partial(wait_until, interval=0.5)


@pytest.fixture
def workers(tmp_path, settings):
    """Start named workers on demand: `workers("w1", "w2")`; all are stopped at teardown."""
    from config.celery_app import app

    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    settings.MEDIA_ROOT = media
    app.control.purge()
    started: list[WorkerProcess] = []

    def start(*names: str, env: dict[str, str] | None = None, queues: str = "default,training") -> list[WorkerProcess]:
        procs = [WorkerProcess(name, media, env, queues) for name in names]
        started.extend(procs)
        expected = {f"{name}@" for name in names}

        def all_up():
            replies = app.control.ping(timeout=1.0) or []
            hosts = {host.split("@")[0] + "@" for reply in replies for host in reply}
            return expected <= hosts

        try:
            wait_for(all_up, 60, f"workers {names} to answer ping", interval=1.0)
        except AssertionError:
            raise AssertionError("\n".join(p.output()[-3000:] for p in procs))
        return procs

    yield start
    for proc in started:
        proc.stop()
    app.control.purge()
