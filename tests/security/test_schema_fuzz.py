"""Schema fuzzing: schemathesis drives every operation of the project's own OpenAPI schema, in process.

Each operation gets a bounded, derandomized run of generated requests (valid and invalid data) twice: with
a valid admin key for a tenant in the fallback state (catalogue, end users, events, a rule, a failed run,
an erasure record; no active model), and with a wrong, malformed or missing key. Every response must be a
non-5xx whose status code, content type, headers and body match the schema, within a time limit (a hang
fails). The number of cases run is printed at the end of the session and asserted above zero.
"""
from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from config.wsgi import application
from django.core import signals
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from reranking.models import ErasureRecord, ModelVersion, Rule, WebhookEndpoint
from tenants.models import ApiKey

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MAX_EXAMPLES = 12  # per operation and key kind: ~34 operations x 2 runs x 12 cases stay well under 90 s
SECONDS_PER_REQUEST = 5.0  # a response slower than this is a hang, not a slow test machine

FUZZ = settings(
    max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)

SCHEMA_URL = "/api/schema/?format=json"
# With a valid key: every phase, including `coverage`, which sends each boundary and type-confused value
# the schema defines (deterministic), then `fuzzing` with MAX_EXAMPLES random cases per operation.
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, application)
# With a bad key every answer must be 401 whatever the data: random cases suffice.
bad_key_schema = schemathesis.openapi.from_wsgi(
    SCHEMA_URL, application, config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
)

CASES = {"valid key": 0, "bad key": 0}

# Checks left out, each with the reason: what the schema cannot express. Everything else runs everywhere.
CROSS_FIELD = "valid values depend on other fields, which OpenAPI cannot express"
SKIP_POSITIVE = {
    "POST /api/v1/items/upload/": "the file must be a CSV with an item_id,title header; a schema cannot say so",
    "POST /api/v1/events/": "each event must name an item already in the catalogue",
    "POST /api/v1/items/bulk/": "item_id must be unique within the batch (uniqueItems cannot say 'by one property')",
    "GET /api/v1/recommendations/": f"{CROSS_FIELD}: (page - 1) * k must stay under 200",
    "GET /api/v1/users/{user_id}/recommendations/": f"{CROSS_FIELD}: (page - 1) * k must stay under 200",
    "POST /api/v1/recommendations/": f"{CROSS_FIELD}: (page - 1) * k must stay under 200; epsilon only under DP",
    "POST /api/v1/users/{user_id}/recommendations/": f"{CROSS_FIELD}: (page - 1) * k must stay under 200",
    "GET /api/v1/items/{external_id}/similar/": f"{CROSS_FIELD}: price_min must not exceed price_max",
    "POST /api/v1/rerank/": f"{CROSS_FIELD}: user_id or recent_items, not both; epsilon only under DP",
    "POST /api/v1/rules/": f"{CROSS_FIELD}: params are validated per kind (reranking/rules.py)",
    "PUT /api/v1/rules/{id}/": f"{CROSS_FIELD}: params are validated per kind (reranking/rules.py)",
    "PATCH /api/v1/rules/{id}/": f"{CROSS_FIELD}: params are validated per kind (reranking/rules.py)",
    "POST /api/v1/rules/preview/": f"{CROSS_FIELD}: draft rules are validated per kind (reranking/rules.py)",
    "PATCH /api/v1/privacy/": f"{CROSS_FIELD}: epsilon must not exceed max_epsilon",
    "POST /api/v1/experiments/": f"{CROSS_FIELD}: 2 to 5 arms whose shares sum to 100; a version for kind=version",
    "POST /api/v1/experiments/{id}/promote/": "the arm must be one of this experiment's (and not popular)",
    "GET /api/v1/metrics/online/": f"{CROSS_FIELD}: since must not be after until, at most 366 days apart",
    "PATCH /api/v1/metrics/settings/": "event type names are text without NUL characters (DRF refuses NUL in any string)",
    "POST /api/v1/webhooks/": "the url must be http(s) and resolve to public addresses, which a schema cannot say",
    "PATCH /api/v1/webhooks/{id}/": "the url must be http(s) and resolve to public addresses, which a schema cannot say",
}
# JSON bodies: DRF serializers coerce a scalar of a compatible type by design (0 -> false, 7 -> "7"), so a
# "wrong type" body can be accepted, always stored as the declared type. Query parameters keep the check.
BODY_METHODS = ("POST", "PUT", "PATCH")


def excluded_checks(case) -> list:
    label = case.operation.label
    excluded = []
    if label in SKIP_POSITIVE:
        excluded.append(positive_data_acceptance)
    if case.operation.method.upper() in BODY_METHODS:
        excluded.append(negative_data_rejection)
    return excluded


@pytest.fixture(scope="module")
def count_cases():
    """Fail when the fuzzer ran no case (a broken schema load or filter); conftest prints the counts."""
    yield CASES
    assert sum(CASES.values()) > 0, "schemathesis generated no cases"


@pytest.fixture
def in_process():
    """Call the real WSGI app inside the test's transaction, as Django's test client does.

    The handler closes the database connection at the end of each request when it sits in a
    transaction (close_old_connections); the test client unhooks that, and so must we.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tenant(count_cases, in_process, alice, charlie, catalogue, monkeypatch):
    """Alice's shop in the fallback state, with one row of every kind the API addresses."""
    from reranking.services.ingest import ingest_events

    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: None)
    monkeypatch.setattr("worker.tasks.precompute_rankings.delay", lambda *args: None)
    ingest_events(alice.tenant, [
        {"user_id": user, "item_id": item, "event_type": kind, "event_id": f"e-{user}-{item}"}
        for user, item, kind in [("ann", "sku-1", "view"), ("ann", "sku-2", "purchase"), ("ben", "sku-2", "click"),
                                 ("ben", "sku-3", "view"), ("cy", "sku-4", "add_to_cart")]
    ])
    Rule.objects.create(tenant=alice.tenant, name="no games", kind="filter",
                        params={"when": {"field": "category", "op": "eq", "value": "games"}})
    ModelVersion.objects.create(tenant=alice.tenant, number=1, status="failed", error="no data")
    ErasureRecord.objects.create(tenant=alice.tenant, via="api")
    WebhookEndpoint.objects.create(tenant=alice.tenant, url="https://hooks.example.com/recs", events=["model.activated"],
                                   secret="whsec_fuzz")
    return alice


def call(case, headers: dict) -> object:
    started = time.monotonic()
    response = case.call_and_validate(headers=headers, excluded_checks=excluded_checks(case))
    elapsed = time.monotonic() - started
    assert elapsed < SECONDS_PER_REQUEST, f"{case.operation.label} took {elapsed:.1f} s: a hang"
    return response


@schema.parametrize()
@FUZZ
def test_every_operation_with_an_admin_key(case, fuzz_tenant):
    key = ApiKey.objects.get(tenant=fuzz_tenant.tenant, name="all")
    if key.revoked_at is not None:  # a generated DELETE /keys/{id} may have revoked the fuzzer's own key
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)
    call(case, {"X-Api-Key": fuzz_tenant.raw_key})
    CASES["valid key"] += 1


BAD_KEYS = [
    {},  # no key
    {"X-Api-Key": "rk_000000000000_" + "x" * 43},  # well-formed, unknown
    {"X-Api-Key": "not-a-key"},
    {"Authorization": "Bearer rk_"},
]


def routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@bad_key_schema.parametrize()
@FUZZ
def test_every_operation_refuses_a_missing_or_wrong_key(case, fuzz_tenant):
    headers = BAD_KEYS[CASES["bad key"] % len(BAD_KEYS)]
    response = call(case, headers)
    # A path parameter outside its pattern matches no route: 404 before any view (or key check) runs.
    expected = 401 if routed(case.formatted_path) else 404
    assert response.status_code == expected, (case.operation.label, headers, response.status_code)
    CASES["bad key"] += 1


def test_an_api_url_that_matches_no_route_gets_the_json_error_format(client):
    # The fuzzer's path parameters outside their pattern reach this handler; it used to be Django's HTML page.
    response = client.get("/api/v1/keys/not-a-number/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No endpoint at /api/v1/keys/not-a-number/."}}
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")


def test_format_suffix_routes_are_gone(alice):
    # They answered 500 for actions with named URL kwargs (e.g. /users/{id}/events.json).
    assert alice.client.get("/api/v1/users/ann/events.json").status_code == 404
