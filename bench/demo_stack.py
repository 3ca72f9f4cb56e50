"""Start the embedded demo as `make demo` does (platform/demo.sh), in a private directory and port.

SQLite file, on-disk shared cache, filesystem broker, no Redis or PostgreSQL: web (gunicorn,
`web` processes), one Celery worker and beat. Used by tests/platform/test_demo_stack.py and
bench/sqlite_writers.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, free_port

# A small shop and one quick epoch: the stack is what is under test, not the model.
QUICK_TRAINING = {"max_epochs": 1, "patience": 1, "max_train_lists": 2000, "crossfit_folds": 2, "n_negatives": 64}
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE",
                     "DJANGO_DEBUG")


@dataclass
class DemoStack:
    proc: subprocess.Popen
    url: str
    key: str
    var_dir: Path
    log: Path

    def request(self, method: str, path: str, body=None) -> tuple[int, dict | str]:
        """Send one request on a new connection (so gunicorn may give it to any process); return (status, body)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"X-Api-Key": self.key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM the whole stack (demo.sh's process group), wait for it, then SIGKILL what is left.

        A worker in the middle of a task (the retrain an erasure asks for) would finish it first.
        """
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


def credentials(var_dir: Path) -> dict[str, str]:
    """Return what seed_demo wrote: {"login": ..., "api key": ...}."""
    lines = (var_dir / "demo-credentials.txt").read_text().splitlines()
    return {label.strip(): value.strip() for label, value in (line.split(":", 1) for line in lines)}


def start(var_dir: Path, web: int = 3, users: int = 40, lines: int = 2, timeout: float = 900, **env: str) -> DemoStack:
    """Run platform/demo.sh in `var_dir` on a free port; return once the demo answers (banner printed)."""
    port = free_port()
    var_dir.mkdir(parents=True, exist_ok=True)
    log = var_dir / "demo.log"
    child_env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    child_env.update({"RECS_VAR_DIR": str(var_dir), "PORT": str(port), "WEB_CONCURRENCY": str(web),
                      "DEMO_USERS": str(users), "DEMO_LINES": str(lines), "WEB_ACCESS_LOG": "/dev/null",
                      "RECS_TRAINING_OVERRIDES": json.dumps(QUICK_TRAINING), **env})
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", "platform/demo.sh"], cwd=ROOT, env=child_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"demo.sh exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if f"Serving on {url}" in log.read_text():
            return DemoStack(proc, url, credentials(var_dir)["api key"], var_dir, log)
        time.sleep(0.5)
    DemoStack(proc, url, "", var_dir, log).stop()
    raise RuntimeError(f"the demo did not come up within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
