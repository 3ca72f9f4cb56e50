"""Concurrent writers and readers against the embedded demo (SQLite, no Redis), as `make demo` runs it.

    .venv/bin/python bench/sqlite_writers.py [--writers 4] [--batches 50] [--size 500] [--readers 3] [--web 3]

Starts platform/demo.sh in a temporary directory (a small shop, one quick epoch), then `writers`
threads each POST `batches` batches of `size` events to /api/v1/events while `readers` threads GET
recommendations and items, every request on its own connection. Goal: no 5xx at all, and every event
stored exactly once (counted in the SQLite file afterwards). Prints status counts, events/s and
read latency percentiles.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import demo_stack  # noqa: E402


@dataclass
class Result:
    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> n
    read_seconds: list[float] = field(default_factory=list)
    write_seconds: float = 0.0
    sent: int = 0
    stored_rows: int = 0
    distinct_ids: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)


def hammer(stack: demo_stack.DemoStack, writers: int, batches: int, size: int, readers: int, tag: str = "w") -> Result:
    """Run the writers and readers at once against `stack`; count what the database holds afterwards."""
    result = Result()
    lock = threading.Lock()
    items = [row["item_id"] for row in stack.request("GET", "/api/v1/items")[1]["results"]]
    writing = threading.Event()
    writing.set()

    def write(w: int) -> None:
        for b in range(batches):
            # 50 end users per batch, 10 events each: far under the per-user limit (60 a minute).
            rows = [{"user_id": f"{tag}{w}-{b}-{n % 50}", "item_id": items[n % len(items)], "event_id": f"{tag}{w}-{b}-{n}"}
                    for n in range(size)]
            status, body = stack.request("POST", "/api/v1/events", rows)
            with lock:
                result.statuses["write", status] += 1
                result.sent += size
            if status >= 500:
                print(f"writer {w} batch {b}: {status} {body}")

    def read(r: int) -> None:
        rng = random.Random(r)
        while writing.is_set():
            path = rng.choice([f"/api/v1/users/u{rng.randint(2, 40):05d}/recommendations?k=10", "/api/v1/items"])
            start = time.perf_counter()
            status, _ = stack.request("GET", path)
            with lock:
                result.read_seconds.append(time.perf_counter() - start)
                result.statuses["read", status] += 1

    with ThreadPoolExecutor(writers + readers) as pool:
        reading = [pool.submit(read, r) for r in range(readers)]
        start = time.perf_counter()
        for future in [pool.submit(write, w) for w in range(writers)]:
            future.result()
        result.write_seconds = time.perf_counter() - start
        writing.clear()
        for future in reading:
            future.result()
    with sqlite3.connect(stack.var_dir / "db.sqlite3") as db:
        result.stored_rows, result.distinct_ids = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM reranking_event WHERE event_id LIKE ?", [f"{tag}%"]
        ).fetchone()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--web", type=int, default=3, help="gunicorn processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recs-sqlite-bench-") as tmp:
        print("starting the demo (seed, quick training, web + worker + beat) ...", flush=True)
        stack = demo_stack.start(Path(tmp) / "var", web=args.web)
        try:
            result = hammer(stack, args.writers, args.batches, args.size, args.readers)
        finally:
            stack.stop()
    reads = sorted(result.read_seconds)
    print(f"writers {args.writers} x {args.batches} batches x {args.size} events, {args.readers} readers, "
          f"{args.web} web processes")
    for (kind, status), n in sorted(result.statuses.items()):
        print(f"  {kind:5} {status}: {n}")
    print(f"events sent {result.sent}, rows stored {result.stored_rows}, distinct event ids {result.distinct_ids}")
    print(f"write phase {result.write_seconds:.1f} s = {result.sent / result.write_seconds:,.0f} events/s")
    if reads:
        print(f"reads {len(reads)}: p50 {statistics.median(reads) * 1000:.0f} ms, "
              f"p99 {reads[int(len(reads) * 0.99) - 1] * 1000:.0f} ms")
    ok = result.server_errors == 0 and result.stored_rows == result.distinct_ids == result.sent
    print(f"goal (no 5xx, every event stored exactly once): {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
