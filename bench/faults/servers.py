"""Private Redis and PostgreSQL servers on free ports, for fault scenarios that stop or restart them.

The shared servers on 6379/5432 serve other work at the same time; a fault scenario only ever stops
servers it started itself. Used by bench/faults/*.py and tests/serving/test_degraded_services.py.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Return the predicate's first truthy value; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


class PrivateRedis:
    """A throwaway redis-server (no persistence) that can be stopped and started again on its port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "PrivateRedis":
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: listening(self.port), 10, f"redis on {self.port}")
        return self

    def stop(self) -> None:
        """Kill the server (SIGKILL: an outage, not a graceful shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        wait_until(lambda: not listening(self.port), 10, f"redis on {self.port} to stop")

    def __enter__(self) -> "PrivateRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust auth, loopback only) in a temp dir, run as the postgres user."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="recs-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"

    def url(self, name: str = "recs_faults") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "PrivatePostgres":
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL binaries not found in {PG_BIN} (set PG_BIN)")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.pg_ctl("start", "-w")
        return self

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-o", options, *extra)

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a crash or failover."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast", "-w")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()
