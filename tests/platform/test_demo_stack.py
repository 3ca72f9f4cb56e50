"""The embedded demo, started as `make demo` starts it (platform/demo.sh: three web processes, a Celery
worker and beat; SQLite, the on-disk shared cache, no Redis), agrees with itself across processes.

Each check sends every request on a new connection, so gunicorn spreads them over its processes (20
requests miss one of three processes with odds of 3 x (2/3)^20, under 0.1%), after the processes
have memoised the old state. Documented times (docs/operations.md): erasure and a user's new events at
once; privacy settings and rules within 2 s (cache.LOCAL_SECONDS); per-end-user event limits count
across processes.
"""
from __future__ import annotations

import re
import time

import pytest

from bench import demo_stack
from reranking.services.cache import LOCAL_SECONDS

pytestmark = [pytest.mark.slow, pytest.mark.embedded]
SPREAD = 20  # requests per check


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    stack = demo_stack.start(tmp_path_factory.mktemp("demo"))
    yield stack
    stack.stop()


def answers(demo, path: str) -> list[tuple[int, object]]:
    return [demo.request("GET", path) for _ in range(SPREAD)]


def test_the_banner_names_the_real_address_and_errors_show_no_debug_detail(demo):
    assert f"Serving on {demo.url}" in demo.log.read_text()
    status, body = demo.request("GET", "/no-such-page/")
    assert status == 404 and "URLconf" not in body and "Traceback" not in body


def test_the_api_docs_load_their_scripts_from_the_demo_itself(demo):
    for page in ("/api/docs/", "/api/redoc/"):
        status, html = demo.request("GET", page)
        scripts = re.findall(r'src="(/static/[^"]+)"', html)
        assert status == 200 and scripts, page
        assert all(demo.request("GET", script)[0] == 200 for script in scripts), scripts


def test_an_erased_user_is_gone_from_every_process_at_once(demo):
    path = "/api/v1/users/u00001/recommendations?k=5"
    before = answers(demo, path)
    assert {status for status, _ in before} == {200} and {body["strategy"] for _, body in before} == {"precomputed"}
    assert demo.request("POST", "/api/v1/users/u00001/erase")[0] == 200
    assert [status for status, _ in answers(demo, path)] == [404] * SPREAD


def test_after_a_click_every_process_serves_the_fresh_list(demo):
    path = "/api/v1/users/u00003/recommendations?k=5"
    before = answers(demo, path)
    assert not any(body["fresh"] for _, body in before)
    click = [{"user_id": "u00003", "item_id": before[0][1]["items"][0]["item_id"], "event_type": "click"}]
    assert demo.request("POST", "/api/v1/events", click)[0] == 201
    assert all(status == 200 and body["fresh"] for status, body in answers(demo, path))


def test_rule_and_privacy_changes_reach_every_process_within_the_documented_time(demo):
    """Runs after the tests that read lists of 5 or more: it leaves DP on with a cap of 3 results."""
    path = "/api/v1/users/u00002/recommendations?k=8"
    top = answers(demo, path)[0][1]["items"][0]["item_id"]
    rule = {"name": "hide the top item", "kind": "filter",
            "params": {"when": {"field": "item_id", "op": "eq", "value": top}}}
    status, created = demo.request("POST", "/api/v1/rules", rule)
    assert status == 201, created
    time.sleep(LOCAL_SECONDS + 0.5)
    assert all(top not in [i["item_id"] for i in body["items"]] for _, body in answers(demo, path)), "new rule"

    assert demo.request("DELETE", f"/api/v1/rules/{created['id']}")[0] == 204
    time.sleep(LOCAL_SECONDS + 0.5)
    assert all(body["items"][0]["item_id"] == top for _, body in answers(demo, path)), "deleted rule still applied"

    assert demo.request("PATCH", "/api/v1/privacy", {"dp_enabled": True, "max_results": 3})[0] == 200
    time.sleep(LOCAL_SECONDS + 0.5)
    assert [status for status, _ in answers(demo, path)] == [400] * SPREAD, "k=8 is over the new DP cap of 3"
    assert all(body["privacy"]["dp"] for _, body in answers(demo, "/api/v1/users/u00002/recommendations?k=3"))


def test_per_user_event_limits_count_across_processes(demo):
    item = answers(demo, "/api/v1/recommendations?k=1")[0][1]["items"][0]["item_id"]
    stored = 0
    if time.time() % 60 > 40:  # the limit counts per clock minute: send all batches within one
        time.sleep(61 - time.time() % 60)
    for batch in range(8):  # 80 events of one end user in 10-row batches; the default limit is 60 a minute
        rows = [{"user_id": "burst-user", "item_id": item, "event_id": f"burst-{batch}-{n}"} for n in range(10)]
        status, body = demo.request("POST", "/api/v1/events", rows)
        assert status in (200, 201, 429), body
        stored += body["stored"] if status != 429 else 0
    assert stored == 60
    status, body = demo.request("GET", "/api/v1/users/burst-user/events")
    assert status == 200 and len(body["results"]) == 60


def test_beat_schedules_and_the_worker_runs_the_periodic_tasks(demo):
    deadline = time.monotonic() + 90  # flush-served-log is due every 30 s
    pattern = re.compile(r"Task worker\.tasks\.flush_served_log\[[^\]]+\] succeeded")
    while time.monotonic() < deadline and not pattern.search((demo.var_dir / "worker.log").read_text()):
        time.sleep(1)
    assert "Sending due task flush-served-log" in (demo.var_dir / "beat.log").read_text()
    assert pattern.search((demo.var_dir / "worker.log").read_text())


def test_concurrent_writers_and_readers_get_no_5xx_and_every_event_is_stored_once(demo):
    from bench.sqlite_writers import hammer

    result = hammer(demo, writers=4, batches=4, size=500, readers=3, tag="t")
    assert result.server_errors == 0, result.statuses
    assert result.stored_rows == result.distinct_ids == result.sent == 8000
    assert result.statuses["read", 200] > 0


def test_a_write_lock_held_past_the_busy_timeout_gets_503_and_stores_nothing(demo):
    import sqlite3

    rows = [{"user_id": "lock-user", "item_id": "BOO-000-0", "event_id": "lock-1"}]
    lock = sqlite3.connect(demo.var_dir / "db.sqlite3", timeout=60, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer that keeps the lock for longer than the busy timeout (20 s)
    try:
        status, body = demo.request("POST", "/api/v1/events", rows)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert status == 503 and body["error"]["code"] == "database_unavailable", body
    status, body = demo.request("POST", "/api/v1/events", rows)  # the client retries: stored once
    assert status == 201 and body["stored"] == 1, body


def test_a_webhook_is_delivered_through_the_folder_broker(demo):
    """The demo's worker sends webhooks too (kombu's filesystem transport), signed; local.py allows loopback."""
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[dict, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, hook = demo.request("POST", "/api/v1/webhooks", {
            "url": f"http://127.0.0.1:{server.server_port}/hook", "events": ["model.activated"]})
        assert status == 201, hook
        assert demo.request("POST", f"/api/v1/webhooks/{hook['id']}/ping")[0] == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not got:
            time.sleep(0.5)
    finally:
        server.shutdown()
        server.server_close()
    headers, body = got[0]
    t, v1 = (part.split("=", 1)[1] for part in headers["Recs-Signature"].split(","))
    assert v1 == hmac.new(hook["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    path = f"/api/v1/webhooks/{hook['id']}/deliveries"
    deadline = time.monotonic() + 10  # the worker records the answer just after the receiver got the request
    while time.monotonic() < deadline and demo.request("GET", path)[1]["results"][0]["status"] == "pending":
        time.sleep(0.5)
    deliveries = demo.request("GET", path)[1]["results"]
    assert [(d["event"], d["status"], d["last_status_code"]) for d in deliveries] == [("ping", "succeeded", 204)]
