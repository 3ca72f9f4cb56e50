"""Growth curves: training, precompute, memory and serving cost of one tenant as it grows, and of many tenants.

    .venv/bin/python bench/scale.py [--sizes 1e4,1e5,1e6] [--tenants 100] [--requests 400] [--embed-split 1e6]
        [--eval-split 1e6] [--retrain]

For each size it generates a synthetic shop with that many interactions and a tenth as many items
(reranking/demo_data.py, every item with its own text), loads it through the ingest service, trains and
precomputes it in a separate `manage.py train_tenant` process (the worker's code path; its peak RSS is
read with wait4, so it is that process alone), then times GET recommendations through gunicorn on one
keep-alive connection. It fits log-log slopes, extrapolates the largest tenant this machine holds, and
saves bench/out/scale.png. `--tenants N` then loads N small tenants, trains them all at once on two
Celery workers, and prints time, database and disk size per tenant. PostgreSQL (DATABASE_URL) and
Redis (REDIS_URL) as in production; timings on a shared machine are noisy, slopes less so.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (  # noqa: E402
    ROOT, children, free_port, setup_django, start_server, start_workers,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/recs_scale_bench"
# Its own Redis database: cache keys name tenants by primary key, and another benchmark's database numbers
# its tenants from 1 too, so sharing one Redis database would mix their entries.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
OUT = ROOT / "bench" / "out"
EVENTS_PER_USER = 20.7  # what demo_data.generate yields on average (measured)
LINE_LENGTH = 4
CATEGORIES = 8
MACHINE_BYTES = 24 * 2**30
HEADROOM_BYTES = 4 * 2**30  # PostgreSQL, Redis, gunicorn and the OS keep this much
TRAINING_LIMIT_S = 3 * 3600  # RECS_TRAINING_SOFT_LIMIT: a run longer than this is killed


def shop(n_events: int, seed: int) -> tuple[list[dict], list[dict]]:
    """A generated shop with about n_events interactions and n_events / 10 items."""
    from reranking.demo_data import generate

    lines = max(1, round(n_events / 10 / (CATEGORIES * LINE_LENGTH)))
    users = max(2, round(n_events / EVENTS_PER_USER))
    return generate(seed=seed, n_users=users, line_length=LINE_LENGTH, lines_per_category=lines, model_numbers=True)


def database_bytes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def peak_rss(pid: int) -> int:
    """Peak resident set (VmHWM) of a live process, in bytes; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def train_in_subprocess(slug: str, env: dict) -> tuple[int, float, float]:
    """Run `manage.py train_tenant` (train + precompute); return its peak RSS in bytes, wall and CPU seconds."""
    clock = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "manage.py", "train_tenant", slug], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"train_tenant {slug} failed ({proc.returncode}):\n{output}")
    return usage.ru_maxrss * 1024, time.perf_counter() - clock, usage.ru_utime + usage.ru_stime  # Linux: kilobytes


def latency_ms(port: int, key: str, tenants_users: list[str], n: int) -> tuple[float, float, int]:
    """GET recommendations for random users on one keep-alive connection; return p50, p99 (ms), non-200s."""
    rng = random.Random(5)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"X-Api-Key": key}
    times, bad = [], 0
    for i in range(n + 20):
        user = rng.choice(tenants_users)
        clock = time.perf_counter()
        connection.request("GET", f"/api/v1/users/{user}/recommendations?k=10", headers=headers)
        response = connection.getresponse()
        response.read()
        if i >= 20:  # the first requests warm the worker (model, caches)
            times.append((time.perf_counter() - clock) * 1000)
            bad += response.status != 200
    connection.close()
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], bad


def serving_rss(server) -> int:
    return max([peak_rss(pid) for pid in children(server.pid)] or [0])


def run_size(n_events: int, env: dict, args) -> dict:
    from reranking.models import EndUser, ModelVersion
    from reranking.services.bulk import import_events, import_items
    from tenants.models import ApiKey, Scope, Tenant

    items, events = shop(n_events, seed=n_events % 1000 + 11)
    slug = f"scale-{n_events}-{int(time.time())}"
    print(f"\n== {len(events):,} interactions, {len(items):,} items ({slug})", flush=True)
    before = database_bytes()
    tenant = Tenant.objects.create(slug=slug, name=f"Scale {n_events}")
    clock = time.perf_counter()
    import_items(tenant, items)
    result = import_events(tenant, events, total=len(events))
    load_s = time.perf_counter() - clock
    assert result.stored == len(events), result.as_dict()
    del items, events
    rss, wall_s, cpu_s = train_in_subprocess(slug, env)
    run = ModelVersion.objects.for_tenant(tenant).get(is_active=True)
    retrain = {}
    if args.retrain:
        # The nightly case: the same catalogue again, every item vector cached by text hash.
        retrain_rss, retrain_wall, _ = train_in_subprocess(slug, env)
        again = ModelVersion.objects.for_tenant(tenant).get(is_active=True)
        retrain = {"retrain_wall_s": retrain_wall, "retrain_rss": retrain_rss,
                   "retrain_embedding_s": again.timings.get("embedding", 0.0)}
    t, cpu = run.timings, run.metrics.get("cpu_seconds", {})
    train_cpu = sum(cpu.get(k, 0.0) for k in ("candidates", "training", "production_fit"))
    _, key = ApiKey.issue(tenant, "scale", [Scope.READ])
    users = list(EndUser.objects.for_tenant(tenant).values_list("external_id", flat=True))
    port = free_port()
    server = start_server(port, {**env, "WEB_CONCURRENCY": "1"})  # one worker: its memory is this tenant's
    try:
        p50, p99, bad = latency_ms(port, key, users, args.requests)
        web_rss = serving_rss(server)
    finally:
        server.terminate()
        server.wait(timeout=30)
    row = {
        "events": run.n_events, "items": run.n_items, "users": run.n_users, "load_s": load_s,
        "embedding_s": t.get("embedding", 0.0),
        "train_s": sum(t.get(k, 0.0) for k in ("candidates", "training", "production_fit")),
        "evaluating_s": t.get("evaluating", 0.0), "precompute_s": t.get("precompute", 0.0), "wall_s": wall_s,
        # CPU seconds of the train_tenant process (all threads): the figures to trust on a loaded machine.
        "embedding_cpu": cpu.get("embedding", 0.0), "train_cpu": train_cpu, "evaluating_cpu": cpu.get("evaluating", 0.0),
        "other_cpu": cpu_s - sum(cpu.get(k, 0.0) for k in cpu),  # precompute, loading the data, start-up
        "cpu_s": cpu_s, "users_evaluated": run.metrics.get("users_evaluated"), "best_epoch": run.metrics.get("best_epoch"),
        "train_rss": rss, "web_rss": web_rss, "p50_ms": p50, "p99_ms": p99, "non_200": bad,
        "db_bytes": database_bytes() - before, "artifact_bytes": folder_bytes(Path(env["RECS_MEDIA_ROOT"]) / run.artifact_path),
        "ndcg@10": run.test_ndcg, **retrain,
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    if not args.keep:
        ModelVersion.objects.for_tenant(tenant).update(is_active=False)
        tenant.delete()
    return row


def run_many(count: int, env: dict, args) -> dict:
    """Load `count` small tenants, train them all at once on two workers, measure per-tenant cost."""
    from config.celery_app import app
    from reranking.demo_data import generate
    from reranking.models import EndUser, ModelVersion, RunStatus
    from reranking.services.bulk import import_events, import_items
    from reranking.services.training import request_training
    from tenants.models import ApiKey, Scope, Tenant

    from tqdm import tqdm

    print(f"\n== {count} small tenants at once", flush=True)
    stamp = int(time.time())
    before = database_bytes()
    tenants, n_events = [], 0
    clock = time.perf_counter()
    for n in tqdm(range(count), desc="load tenants", unit="tenant"):
        tenant = Tenant.objects.create(slug=f"many-{stamp}-{n}", name=f"Small {n}")
        items, events = generate(seed=n, n_users=50, lines_per_category=4)
        import_items(tenant, items, progress=False)
        n_events += import_events(tenant, events, progress=False).stored
        tenants.append(tenant)
    load_s = time.perf_counter() - clock
    loaded = database_bytes()
    app.control.purge()
    workers = start_workers(2, env, prefix="scale")
    try:
        clock = time.perf_counter()
        runs = [request_training(tenant, trigger="bench")[0] for tenant in tenants]
        pending = {run.pk for run in runs}
        with tqdm(total=count, desc="train + precompute", unit="tenant") as bar:
            while pending:
                done = set(ModelVersion.objects.filter(pk__in=pending, status__in=[RunStatus.FAILED, RunStatus.CANCELLED])
                           .values_list("pk", flat=True))
                done |= set(ModelVersion.objects.filter(pk__in=pending, rankings_ready=True).values_list("pk", flat=True))
                bar.update(len(done))
                pending -= done
                time.sleep(1.0)
        train_wall = time.perf_counter() - clock
        worker_rss = max(peak_rss(pid) for proc in workers for pid in [proc.pid, *children(proc.pid)])
    finally:
        for proc in workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers:
            proc.wait(timeout=60)
    finished = list(ModelVersion.objects.filter(pk__in=[r.pk for r in runs]))
    failed = [r for r in finished if r.status != RunStatus.SUCCEEDED]
    per_run = sorted(sum(r.timings.get(k, 0.0) for k in ("embedding", "candidates", "training", "evaluating",
                                                           "production_fit", "precompute")) for r in finished)
    keys = [ApiKey.issue(t, "scale", [Scope.READ])[1] for t in tenants[:10]]
    port = free_port()
    server = start_server(port, env)
    try:
        samples = [
            latency_ms(port, key, list(EndUser.objects.for_tenant(tenant).values_list("external_id", flat=True)),
                       max(20, args.requests // 10))
            for tenant, key in zip(tenants, keys)
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    media = Path(env["RECS_MEDIA_ROOT"]) / "models"
    artifacts = sum(folder_bytes(media / t.slug) for t in tenants)
    row = {
        "tenants": count, "events_per_tenant": n_events / count, "failed": len(failed),
        "load_s_per_tenant": load_s / count, "train_wall_s": train_wall, "wall_s_per_tenant": train_wall / count,
        "run_s_median": per_run[len(per_run) // 2], "worker_peak_rss": worker_rss,
        "db_bytes_per_tenant_loaded": (loaded - before) / count, "db_bytes_per_tenant": (database_bytes() - before) / count,
        "artifact_bytes_per_tenant": artifacts / count,
        "p50_ms": sorted(s[0] for s in samples)[len(samples) // 2], "p99_ms_max": max(s[1] for s in samples),
    }
    if not args.keep:
        for tenant in tenants:
            ModelVersion.objects.for_tenant(tenant).update(is_active=False)
            tenant.delete()
    return row


def embedding_split(n_events: int, env: dict) -> dict:
    """Embed a fresh catalogue of the `n_events` shop in this process alone, then with one Celery worker
    taking chunks beside it (two workers in all); return both wall times (reranking/services/embeddings.py)."""
    from django.core.cache import cache

    from config.celery_app import app
    from reranking.models import ItemEmbedding
    from reranking.services.bulk import import_items
    from reranking.services.embeddings import embed_items
    from tenants.models import Tenant

    items, _ = shop(n_events, seed=n_events % 1000 + 11)
    tenant = Tenant.objects.create(slug=f"embed-{n_events}-{int(time.time())}", name=f"Embed {n_events}")
    import_items(tenant, items, progress=False)
    print(f"\n== embedding {len(items):,} item texts: one process, then two (RECS_EMBED_CHUNK_ITEMS chunks)", flush=True)
    row = {"items": len(items)}
    try:
        for workers in (1, 2):
            ItemEmbedding.objects.for_tenant(tenant).delete()
            cache.clear()
            app.control.purge()
            helpers = start_workers(workers - 1, env, prefix="embed") if workers > 1 else []
            try:
                clock = time.perf_counter()
                embed_items(tenant, share=True)
                row[f"wall_s_{workers}"] = time.perf_counter() - clock
            finally:
                for proc in helpers:
                    os.killpg(proc.pid, signal.SIGTERM)
                for proc in helpers:
                    proc.wait(timeout=120)
            print(f"  {workers} worker(s): {row[f'wall_s_{workers}']:.0f} s", flush=True)
    finally:
        tenant.delete()
    row["speedup"] = row["wall_s_1"] / row["wall_s_2"]
    return row


def evaluation_split(n_events: int, env: dict) -> dict:
    """Train a fresh shop of `n_events` in this process and time its test-stage scoring (the sampled users of
    reranking.ml.holdout.TestJob) in this process alone, then in two chunks with one Celery worker taking the
    second (two workers in all); return both wall times and whether the metrics matched (eval_chunks.py).

    The first-stage refit before scoring stays in the trainer and is in neither figure; saving the job for
    the other worker is in the second.
    """
    from config.celery_app import app
    from reranking.ml.holdout import combine, score_here
    from reranking.services import eval_chunks, training
    from reranking.services.bulk import import_events, import_items
    from tenants.models import Tenant

    items, events = shop(n_events, seed=n_events % 1000 + 13)
    tenant = Tenant.objects.create(slug=f"eval-{n_events}-{int(time.time())}", name=f"Eval {n_events}")
    import_items(tenant, items, progress=False)
    import_events(tenant, events, total=len(events), progress=False)
    print(f"\n== test evaluation of a {len(events):,}-interaction shop: one process, then two", flush=True)
    row: dict = {}

    def timed_scorer(run, progress=None):
        def score(job):
            n_items = job.model.first_stage.n_items
            row["users"] = len(job)
            clock = time.perf_counter()
            alone = score_here(job)
            row["wall_s_1"] = time.perf_counter() - clock
            app.control.purge()
            helpers = start_workers(1, env, prefix="eval")
            try:
                clock = time.perf_counter()
                parts = eval_chunks.evaluate_chunks(run, job, size=-(-len(job) // 2))
                row["wall_s_2"] = time.perf_counter() - clock
            finally:
                for proc in helpers:
                    os.killpg(proc.pid, signal.SIGTERM)
                for proc in helpers:
                    proc.wait(timeout=120)
            row["same_metrics"] = combine(parts, n_items) == combine(alone, n_items)
            print(f"  {len(job):,} users: {row['wall_s_1']:.1f} s in one process, {row['wall_s_2']:.1f} s in two "
                  f"(metrics equal: {row['same_metrics']})", flush=True)
            return parts
        return score

    shared_scorer, eval_chunks.shared_scorer = eval_chunks.shared_scorer, timed_scorer
    try:
        run, _ = training.request_training(tenant, enqueue=False)
        training.run_training(run.pk)
    finally:
        eval_chunks.shared_scorer = shared_scorer
        tenant.delete()
    assert "wall_s_2" in row, "the run did not reach its test evaluation"
    row["speedup"] = row["wall_s_1"] / row["wall_s_2"]
    return row


def slope(xs: list[float], ys: list[float]) -> float:
    import numpy as np

    if len(xs) < 2 or min(ys) <= 0:
        return float("nan")
    return float(np.polyfit(np.log10(xs), np.log10(ys), 1)[0])


def extrapolate(rows: list[dict], key: str, limit: float) -> tuple[float, float]:
    """Interactions at which `key` reaches `limit`, and the marginal cost per interaction.

    Fixed costs (the interpreter, torch, MiniLM: ~1 GiB and a minute) dominate small sizes and flatten a
    log-log line, so the line through the two largest sizes in linear space is used: cost = fixed +
    marginal x interactions. Optimistic where the true growth is superlinear; the log-log slopes say.
    """
    a, b = rows[-2], rows[-1]
    marginal = (b[key] - a[key]) / max(1, b["events"] - a["events"])
    if not marginal > 0:
        return float("inf"), marginal
    return b["events"] + (limit - b[key]) / marginal, marginal


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["events"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for key, label in (("embedding_s", "text embedding"), ("train_s", "training (no eval)"),
                       ("evaluating_s", "evaluation"), ("precompute_s", "precompute"), ("load_s", "ingest")):
        left.loglog(xs, [max(r[key], 1e-3) for r in rows], "o-", label=f"{label} (slope {slope(xs, [max(r[key], 1e-3) for r in rows]):.2f})")
    left.set_xlabel("interactions"); left.set_ylabel("seconds"); left.set_title("time"); left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    right.loglog(xs, [r["train_rss"] / 2**20 for r in rows], "o-", label="train+precompute peak RSS (MiB)")
    right.loglog(xs, [r["web_rss"] / 2**20 for r in rows], "s-", label="gunicorn worker peak RSS (MiB)")
    right.loglog(xs, [r["db_bytes"] / 2**20 for r in rows], "^-", label="PostgreSQL growth (MiB)")
    right.loglog(xs, [r["p50_ms"] for r in rows], "v--", label="GET recommendations p50 (ms)")
    right.loglog(xs, [r["p99_ms"] for r in rows], "v:", label="GET recommendations p99 (ms)")
    right.set_xlabel("interactions"); right.set_title("memory, storage, latency"); right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e4,1e5,1e6", help="comma-separated interaction counts")
    parser.add_argument("--tenants", type=int, default=100, help="small tenants trained at once (0: skip)")
    parser.add_argument("--requests", type=int, default=400, help="GET recommendations timed per size")
    parser.add_argument("--keep", action="store_true", help="keep the generated tenants")
    parser.add_argument("--retrain", action="store_true",
                        help="train each size a second time, as a nightly retrain does (item vectors cached)")
    parser.add_argument("--embed-split", default="", help="interactions of a shop whose first embedding is timed "
                        "with one and with two workers (e.g. 1e6; empty: skip)")
    parser.add_argument("--eval-split", default="", help="interactions of a shop whose test evaluation is timed "
                        "with one and with two workers (e.g. 1e6; empty: skip)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    args = parser.parse_args()
    sizes = sorted(int(float(s)) for s in args.sizes.split(",") if s.strip())
    broker = os.environ.get("CELERY_BROKER_URL", args.redis_url)
    env = setup_django(
        args.database_url, REDIS_URL=args.redis_url, CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=os.environ.get("CELERY_RESULT_BACKEND", broker),
        RECS_MEDIA_ROOT=str(ROOT / "var" / "bench-scale-media"),
        RECS_TENANT_RATE="100000000/min", RECS_KEY_RATE="100000000/min",
    )
    rows = [run_size(n, env, args) for n in sizes]
    many = run_many(args.tenants, env, args) if args.tenants else None
    split = embedding_split(int(float(args.embed_split)), env) if args.embed_split else None
    eval_split = evaluation_split(int(float(args.eval_split)), env) if args.eval_split else None

    print(f"\n{os.cpu_count()} CPUs; timings are wall seconds on a machine shared with other jobs (noisy).")
    print("Serving latency: GET /api/v1/users/<id>/recommendations?k=10 through gunicorn (1 worker), "
          "one keep-alive connection, random users, after 20 warm-up requests.")
    head = (f"{'interactions':>12}{'items':>8}{'users':>8}{'ingest s':>9}{'embed s':>9}{'train s':>9}{'eval s':>8}"
            f"{'precomp s':>10}{'train RSS MiB':>14}{'web RSS MiB':>12}{'DB MiB':>8}{'p50 ms':>8}{'p99 ms':>8}{'NDCG@10':>8}")
    print(head)
    for r in rows:
        print(f"{r['events']:>12,}{r['items']:>8,}{r['users']:>8,}{r['load_s']:>9.1f}{r['embedding_s']:>9.1f}"
              f"{r['train_s']:>9.1f}{r['evaluating_s']:>8.1f}{r['precompute_s']:>10.1f}{mib(r['train_rss']):>14}"
              f"{mib(r['web_rss']):>12}{mib(r['db_bytes']):>8}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
              f"{(r['ndcg@10'] or 0):>8.3f}")
    print("\nCPU seconds (user+sys, all threads) of the train_tenant process per phase; 'other' is precompute, "
          "loading the data and start-up:")
    print(f"{'interactions':>12}{'embed':>9}{'train':>9}{'eval':>9}{'other':>9}{'total':>9}{'wall s':>9}"
          f"{'users eval':>11}{'best ep':>8}")
    for r in rows:
        print(f"{r['events']:>12,}{r['embedding_cpu']:>9.0f}{r['train_cpu']:>9.0f}{r['evaluating_cpu']:>9.0f}"
              f"{r['other_cpu']:>9.0f}{r['cpu_s']:>9.0f}{r['wall_s']:>9.0f}{r['users_evaluated'] or 0:>11,}"
              f"{r['best_epoch'] or 0:>8}")
    if args.retrain:
        print("\nRetrain (train_tenant again, every item vector cached): wall s and peak RSS MiB")
        for r in rows:
            print(f"{r['events']:>12,}{r['retrain_wall_s']:>9.0f} s (embedding {r['retrain_embedding_s']:.1f} s)"
                  f"{mib(r['retrain_rss']):>9} MiB; first training {r['wall_s']:.0f} s")
    if len(rows) >= 2:
        xs = [r["events"] for r in rows]
        print("\nlog-log slopes over all sizes (1 = linear in interactions):")
        for key in ("load_s", "embedding_s", "train_s", "evaluating_s", "precompute_s", "wall_s", "cpu_s",
                    "embedding_cpu", "train_cpu", "evaluating_cpu", "other_cpu", "train_rss", "db_bytes", "p50_ms"):
            print(f"  {key:<14}{slope(xs, [r[key] for r in rows]):6.2f}")
        for r in rows:
            r["pipeline_s"] = r["embedding_s"] + r["train_s"] + r["evaluating_s"] + r["precompute_s"]
        by_memory, per_event_bytes = extrapolate(rows, "train_rss", MACHINE_BYTES - HEADROOM_BYTES)
        by_time, per_event_s = extrapolate(rows, "pipeline_s", TRAINING_LIMIT_S)
        largest = rows[-1]["events"]
        print(f"\nlargest measured: {largest:,} interactions, peak RSS {mib(rows[-1]['train_rss'])} MiB, "
              f"pipeline {rows[-1]['pipeline_s']:.0f} s")
        print(f"marginal cost between the two largest sizes: {per_event_bytes:,.0f} bytes and {per_event_s * 1e3:.2f} ms "
              f"per interaction")
        print(f"extrapolated linearly from there: peak RSS reaches {mib(MACHINE_BYTES - HEADROOM_BYTES)} MiB at "
              f"~{by_memory:,.0f} interactions; embedding+train+eval+precompute reaches the "
              f"{TRAINING_LIMIT_S // 3600} h task limit at ~{by_time:,.0f}")
        print(f"=> largest tenant on this 24 GiB, {os.cpu_count()}-core machine: ~{min(by_memory, by_time):,.0f} "
              f"interactions ({'memory' if by_memory < by_time else 'time'}-bound), EXTRAPOLATED beyond {largest:,}")
        path = OUT / "scale.png"
        plot(rows, path)
        print(f"plot: {path}")
    if many:
        print(f"\n{many['tenants']} tenants of ~{many['events_per_tenant']:.0f} interactions, trained at once on 2 workers "
              f"({many['failed']} failed):")
        print(f"  ingest {many['load_s_per_tenant']:.2f} s/tenant; train+precompute wall {many['train_wall_s']:.0f} s "
              f"= {many['wall_s_per_tenant']:.1f} s/tenant amortised (median run {many['run_s_median']:.1f} s)")
        print(f"  PostgreSQL {many['db_bytes_per_tenant_loaded'] / 1024:,.0f} KiB/tenant after ingest, "
              f"{many['db_bytes_per_tenant'] / 1024:,.0f} KiB/tenant with model runs and rankings; "
              f"model artifact {many['artifact_bytes_per_tenant'] / 1024:,.0f} KiB/tenant on disk")
        print(f"  worker peak RSS {mib(many['worker_peak_rss'])} MiB; GET recommendations over 10 tenants: "
              f"median p50 {many['p50_ms']:.1f} ms, worst p99 {many['p99_ms_max']:.1f} ms")
    if split:
        print(f"\nfirst embedding of {split['items']:,} texts: {split['wall_s_1']:.0f} s in one process, "
              f"{split['wall_s_2']:.0f} s with a second worker taking chunks ({split['speedup']:.2f}x)")
    if eval_split:
        print(f"\ntest evaluation of {eval_split['users']:,} users: {eval_split['wall_s_1']:.0f} s in one process, "
              f"{eval_split['wall_s_2']:.0f} s with a second worker taking a chunk ({eval_split['speedup']:.2f}x; "
              f"metrics equal: {eval_split['same_metrics']})")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps({"sizes": rows, "many": many, "embedding_split": split,
                                                "evaluation_split": eval_split}, indent=2, default=str))
    print(f"figures: {OUT / 'scale.json'}")


if __name__ == "__main__":
    main()
