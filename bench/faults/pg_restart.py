"""Fault: PostgreSQL restarted, then stopped for a few seconds, while clients ingest events.

    .venv/bin/python bench/faults/pg_restart.py [--clients 2] [--outage 3]

Runs gunicorn on a private PostgreSQL cluster (initdb in a temp dir, free port; the shared server is
never touched). Clients post batches of events with unique event_ids and retry a batch, unchanged,
until it is accepted. Meanwhile the cluster is restarted (fast: connections cut) and later stopped for
`--outage` seconds. Checks: no answer other than 2xx or 503, the 503 says what to do, and every
accepted event is in the database exactly once.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common import free_port, start_server  # noqa: E402
from bench.faults.common import Checks, accepted_ids, call, make_shop, setup, statuses  # noqa: E402
from bench.faults.servers import PrivatePostgres  # noqa: E402

BATCH = 50


class Client(threading.Thread):
    """Send batches until told to stop; a batch is re-sent as is until a 2xx answers it."""

    def __init__(self, n: int, port: int, shop, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.n, self.port, self.shop, self.stop = n, port, shop, stop
        self.replies: list = []
        self.accepted: list[str] = []
        self.unanswered: list[str] = []

    def run(self) -> None:
        rng = random.Random(self.n)
        batch = 0
        while not self.stop.is_set():
            ids = [f"c{self.n}-{batch}-{i}" for i in range(BATCH)]
            events = [{"user_id": rng.choice(self.shop.users), "item_id": rng.choice(self.shop.items),
                       "event_type": "view", "event_id": event_id} for event_id in ids]
            deadline = time.monotonic() + 60
            while True:
                reply = call(self.port, "POST", "/api/v1/events", self.shop.key, {"events": events})
                self.replies.append(reply)
                if 200 <= reply.status < 300:
                    self.accepted.extend(accepted_ids(ids, reply.body))
                    break
                if time.monotonic() > deadline:
                    self.unanswered.extend(ids)
                    break
                time.sleep(0.2)
            batch += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds PostgreSQL stays stopped")
    args = parser.parse_args()
    checks = Checks("pg_restart")
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
    with PrivatePostgres() as pg:
        env = setup(pg.url(), redis, os.environ.get("CELERY_BROKER_URL", redis))
        shop = make_shop("faults-pg", train=False)
        from django.db import connection

        from reranking.models import Event

        port = free_port()
        server = start_server(port, env)
        stop = threading.Event()
        clients = [Client(n, port, shop, stop) for n in range(args.clients)]
        try:
            for client in clients:
                client.start()
            time.sleep(2)
            connection.close()
            pg.restart()
            print("restarted PostgreSQL (fast: open connections cut)", flush=True)
            time.sleep(2)
            pg.stop()
            print(f"stopped PostgreSQL for {args.outage:.0f} s", flush=True)
            time.sleep(args.outage)
            pg.pg_ctl("start", "-w")
            print("started PostgreSQL again", flush=True)
            time.sleep(3)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=90)
            server.terminate()
            server.wait(timeout=30)

        replies = [reply for client in clients for reply in client.replies]
        accepted = [event_id for client in clients for event_id in client.accepted]
        unanswered = [event_id for client in clients for event_id in client.unanswered]
        print(f"answers: {statuses(replies)}; batches accepted: {len(accepted) // BATCH}", flush=True)
        unavailable = [r for r in replies if r.status == 503]
        print("checks:")
        checks.check(all(200 <= r.status < 300 or r.status == 503 for r in replies),
                     f"every answer was 2xx or 503, none 500 or dropped ({statuses(replies)})")
        checks.check(unavailable, f"the outage was seen: {len(unavailable)} answers were 503")
        if unavailable:
            error = unavailable[0].body.get("error", {})
            checks.check(error.get("code") == "database_unavailable" and "Retry" in error.get("message", ""),
                         f"the 503 says what happened and what to do: {error.get('message', '')[:90]}...")
        checks.check(not unanswered, f"every batch was accepted in the end ({len(unanswered)} events never were)")
        ours = Event.objects.for_tenant(shop.tenant).filter(event_id__regex=r"^c[0-9]+-")
        stored, distinct = ours.count(), ours.values("event_id").distinct().count()
        checks.check(stored == distinct == len(set(accepted)) == len(accepted),
                     f"stored {stored} events, {distinct} distinct ids, {len(set(accepted))} accepted: each exactly once")
        connection.close()
    checks.finish()


if __name__ == "__main__":
    main()
