"""Replay the last 20% of ml-latest-small through the HTTP API as a live shop running an A/B experiment.

    nice -n 10 .venv/bin/python bench/online.py [--replay N] [--users all|known] [--clients 4] [--aa-runs 40]

Splits the ratings by time, loads the first 80% into a fresh tenant and trains it through the normal
pipeline (train_tenant: training, precompute, activation), starts gunicorn, and starts an experiment
"re-ranker vs popular" (50/50) through the API. Then it replays the next --replay ratings (default: all
20,168, of 116 users; --users known keeps the 28 users known at the cut, as earlier runs did), each
user's in time order, users spread over --clients parallel clients. For each rating the user requests
a list of 10 (their arm decided by the platform, which says it in the response), a click quoting the
list's recommendation_id is posted when the item they really rated next is in it, and the rating
itself is posted (live, so the re-ranker arm re-scores the user's list). A user new after the cut
has their first rating posted without a list (the platform has not heard of them yet: a shop would
show an anonymous list), and gets lists scored live from what they posted from then on. The simulator
keeps its own counts per arm.

Prints per arm: impressions and clicks as the simulator counted them and as the platform reports them
(GET /api/v1/experiments/{id}), CTR with its 95% interval, the difference, its interval and p-value.
Goals: the counts agree exactly; the re-ranker wins with p < 0.05; an A/A split of the recorded
impressions (users re-assigned by the platform's hash under --aa-runs seeds, both halves served the
same way) is significant at 5% in at most 5% of runs.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import DEFAULT_DATA, DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, ROOT, free_port, setup_django, start_server  # noqa: E402

RECORDS = ROOT / "bench" / "out" / "online-records.json"  # (user, clicked) per list and arm, for --aa-only
ARMS = [{"name": "reranker", "kind": "reranker", "share": 50}, {"name": "popular", "kind": "popular", "share": 50}]


class Client:
    """A keep-alive JSON client for the API."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"X-Api-Key": key, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None) -> dict:
        self.connection.request(method, path, body=None if body is None else json.dumps(body), headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else {}


def time_split(folder: Path) -> tuple[list[dict], list[dict]]:
    """Return (first 80%, last 20%) of the ratings by time (ties kept in file order)."""
    from reranking.importers import movielens_events

    events = sorted(movielens_events(folder), key=lambda e: e["timestamp"])
    cut = int(0.8 * len(events))
    return events[:cut], events[cut:]


class Tally:
    """What the simulator counted, per arm (shared by the client threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.impressions, self.clicks = Counter(), Counter()
        self.records: dict[str, list[tuple[str, bool]]] = defaultdict(list)

    def add(self, arm: str, user: str, clicked: bool) -> None:
        with self.lock:
            self.impressions[arm] += 1
            self.clicks[arm] += clicked
            self.records[arm].append((user, clicked))


def replay_users(api: Client, events: list[dict], known: set[str], tally: Tally) -> None:
    """Replay these ratings in order: the user asks for a list, clicks it if the rated item is in it, rates."""
    platform_knows = set(known)
    for event in events:
        user, item = event["user_id"], event["item_id"]
        rating = {"user_id": user, "item_id": item, "event_type": "rating", "value": event["value"]}
        if user not in platform_knows:  # a newcomer's first rating: no list to ask for by user id yet
            platform_knows.add(user)
            api.call("POST", "/api/v1/events", {"events": [rating]})
            continue
        body = api.call("GET", f"/api/v1/users/{user}/recommendations?k=10")
        arm = body["experiment"]["arm"]
        clicked = item in {i["item_id"] for i in body["items"]}
        rows = [rating]
        if clicked:
            rows.insert(0, {"user_id": user, "item_id": item, "event_type": "click",
                            "recommendation_id": body["recommendation_id"]})
        stored = api.call("POST", "/api/v1/events", {"events": rows})
        if stored.get("errors"):
            raise SystemExit(f"events refused: {stored['errors'][:3]}")
        tally.add(arm, user, clicked)


def forget_replay(tenant) -> None:
    """Delete the events an earlier replay posted (after the active version's last one) and the users it created."""
    from django.core.cache import cache

    from reranking.models import EndUser, Event, ModelVersion

    version = ModelVersion.objects.for_tenant(tenant).get(is_active=True)
    deleted, _ = Event.objects.for_tenant(tenant).filter(id__gt=version.max_event_id).delete()
    EndUser.objects.for_tenant(tenant).filter(events__isnull=True).delete()
    cache.clear()  # lists re-scored from the deleted events
    print(f"reusing {tenant.slug}: removed {deleted:,} rows an earlier replay posted")


def aa_false_positives(tenant_id: int, records: list[tuple[str, bool]], runs: int) -> tuple[int, list[float]]:
    """Split recorded (user, clicked) impressions into two same-treatment halves per seed; count p < 0.05.

    Users are split by the platform's own assignment hash under another experiment id per seed, and
    the halves compared with the platform's own test (online_metrics.compare).
    """
    from reranking.services import experiments, online_metrics

    significant, p_values = 0, []
    for seed in range(runs):
        fake = {"id": 1_000_000 + seed, "holdout": 0, "arms": [{"name": "A", "share": 50}, {"name": "B", "share": 50}]}
        halves = defaultdict(list)
        for user, clicked in records:
            halves[experiments.assign(tenant_id, fake, f"u:{user}")[0]].append((user, clicked))
        p = online_metrics.compare(halves["A"], halves["B"])["p_value"]
        p_values.append(p)
        significant += p is not None and p < 0.05
    return significant, p_values


def report_aa(tenant_id: int, records: dict[str, list], runs: int) -> float:
    """Print the A/A false-positive counts per arm; return the larger rate."""
    per_arm = {name: aa_false_positives(tenant_id, rows, runs)[0] for name, rows in records.items()}
    print("A/A: " + ", ".join(f"{n}/{runs} splits of the {name} arm" for name, n in per_arm.items())
          + " significant at 5% (permutation test over users)")
    return max(per_arm.values()) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--replay", type=int, default=0, help="ratings replayed after the cut (default: all)")
    parser.add_argument("--users", choices=["all", "known"], default="all",
                        help="replay every user's ratings, or only those of users known at the cut")
    parser.add_argument("--aa-runs", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4, help="parallel clients, each replaying its share of the users")
    parser.add_argument("--reuse", metavar="SLUG", help="replay against a tenant an earlier run loaded and trained")
    parser.add_argument("--keep", action="store_true", help="keep the trained tenant (for --reuse) instead of deleting it")
    parser.add_argument("--aa-only", action="store_true", help=f"rerun the A/A test on the counts recorded in {RECORDS.name}")
    args = parser.parse_args()
    if args.aa_only:
        setup_django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
        saved = json.loads(RECORDS.read_text())
        rate = report_aa(saved["tenant_id"], saved["records"], args.aa_runs)
        print(f"[{'PASS' if rate <= 0.05 else 'MISS'}] A/A false positives <= 5% of {args.aa_runs} runs ({100 * rate:.1f}%)")
        return
    redis = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    env = setup_django(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), REDIS_URL=redis, CELERY_BROKER_URL=redis,
        RECS_MEDIA_ROOT=str(ROOT / "var" / "bench-media"), RECS_TENANT_RATE="100000000/min",
        RECS_KEY_RATE="100000000/min",
    )
    from django.core.management import call_command

    from reranking.importers import movielens_items
    from reranking.models import Experiment, TrainingPolicy
    from reranking.services.bulk import import_events, import_items
    from tenants.models import ApiKey, Scope, Tenant

    train, test = time_split(args.data)
    known = {e["user_id"] for e in train}
    replay = [e for e in test if args.users == "all" or e["user_id"] in known][: args.replay or None]
    print(f"{len(train):,} ratings before the cut (trained on), {len(test):,} after; replaying {len(replay):,} "
          f"of {len({e['user_id'] for e in replay})} users ({len({e['user_id'] for e in replay} & known)} known at the cut)")
    if args.reuse:  # loaded and trained by an earlier run; what an earlier replay posted is removed first
        tenant = Tenant.objects.get(slug=args.reuse)
        forget_replay(tenant)
    else:
        tenant = Tenant.objects.create(slug=f"bench-online-{int(time.time())}", name="Online bench",
                                       event_types=["rating", "click"])
        # The replay posts a user's ratings faster than a person would: no per-user ingestion limit here.
        TrainingPolicy.objects.create(tenant=tenant, max_events_per_user_minute=0, max_events_per_user_hour=0)
        import_items(tenant, movielens_items(args.data), progress=False)
        import_events(tenant, train, total=len(train), progress=False)
        clock = time.perf_counter()
        call_command("train_tenant", tenant.slug)
        print(f"trained and precomputed in {time.perf_counter() - clock:.0f}s")
    _, key = ApiKey.issue(tenant, "bench", [Scope.READ, Scope.INGEST, Scope.ADMIN])
    Experiment.objects.for_tenant(tenant).delete()  # a reused tenant starts without experiments

    port = free_port()
    server = start_server(port, env, wait=600)  # a loaded shared machine starts gunicorn slowly
    try:
        api = Client(port, key)
        experiment = api.call("POST", "/api/v1/experiments", {"name": "re-ranker vs popular", "arms": ARMS})
        tally = Tally()
        clock = time.perf_counter()
        # Each client replays its share of the users, each user's ratings in time order.
        users = sorted({e["user_id"] for e in replay})
        shares = [{u for n, u in enumerate(users) if n % args.clients == c} for c in range(args.clients)]
        with ThreadPoolExecutor(args.clients) as pool:
            for done in [pool.submit(replay_users, Client(port, key), [e for e in replay if e["user_id"] in share],
                                     known, tally) for share in shares]:
                done.result()
        sim_impressions, sim_clicks, records = tally.impressions, tally.clicks, tally.records
        seconds = time.perf_counter() - clock
        time.sleep(2)  # each gunicorn worker pushes its buffer every FLUSH_SECONDS (0.5 s)
        result = api.call("GET", f"/api/v1/experiments/{experiment['id']}")["results"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    lists = sum(sim_impressions.values())
    print(f"replayed {len(replay):,} ratings, {lists:,} lists, in {seconds:.0f}s "
          f"({(len(replay) + lists) / seconds:.0f} requests/s, {args.clients} clients)")
    print(f"{'arm':<10}{'sim impr':>10}{'platform':>10}{'sim clicks':>12}{'platform':>10}{'CTR %':>8}{'95% CI':>16}")
    agree = True
    for arm in result["arms"]:
        name = arm["name"]
        same = (arm["impressions"], arm["clicks"]) == (sim_impressions[name], sim_clicks[name])
        agree &= same
        ctr = arm["ctr"]
        interval = "[{low:.2f}, {high:.2f}]".format(**ctr)
        print(f"{name:<10}{sim_impressions[name]:>10}{arm['impressions']:>10}{sim_clicks[name]:>12}{arm['clicks']:>10}"
              f"{ctr['percent']:>8.2f}{interval:>16}")
    popular = next(a for a in result["arms"] if a["name"] == "popular")
    diff = popular["ctr_vs_control"]  # popular minus re-ranker (the control)
    p = diff["p_value"]
    print(f"popular - re-ranker CTR: {diff['difference']:+.2f} points, 95% CI [{diff['low']:.2f}, {diff['high']:.2f}], "
          f"p = {p:.2g} (permutation test over users, scipy)")
    reranker_wins = p is not None and p < 0.05 and diff["difference"] < 0
    # Both halves of an A/A split must be served alike: each arm's impressions are split separately.
    RECORDS.parent.mkdir(parents=True, exist_ok=True)
    RECORDS.write_text(json.dumps({"tenant_id": tenant.pk, "records": records}))
    rate = report_aa(tenant.pk, records, args.aa_runs)
    print(f"[{'PASS' if agree else 'MISS'}] platform counts equal the simulator's")
    print(f"[{'PASS' if reranker_wins else 'MISS'}] re-ranker beats popular with p < 0.05 (p = {p:.2g})")
    print(f"[{'PASS' if rate <= 0.05 else 'MISS'}] A/A false positives <= 5% of {args.aa_runs} runs ({100 * rate:.1f}%)")
    if args.keep or args.reuse:
        print(f"kept the tenant: replay again with --reuse {tenant.slug}")
    else:
        Tenant.objects.filter(pk=tenant.pk).delete()


if __name__ == "__main__":
    main()
