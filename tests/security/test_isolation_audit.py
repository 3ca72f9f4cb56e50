"""Behavioural isolation audit: every URL pattern, REST and web UI, refuses another tenant's credentials.

Each pattern from the URL resolver is either public by design (routes.PUBLIC, or Django admin for staff)
or has a probe below. A probe says which of alice's objects the URL names (OBJ) or that the URL is the
caller's own collection (COL). The audit then sends every method the route accepts with charlie's
credentials: his API key with every scope for REST; his logged-in session (he owns his own tenant) for the
UI, both under alice's tenant slug and under his own slug with alice's object ids. It asserts:

- a URL naming alice's object answers 404 (or 403), never 2xx;
- no answer contains anything of alice's (every text field of hers carries SECRET; a listing of charlie's
  must not show her ids either; charlie's writes use ids of his own), and nothing answers 5xx;
- alice's rows, in every tenant-owned table, are exactly as before.

A control test makes alice's own GETs of the same URLs succeed, so the 404s come from scoping.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reranking.models import ErasureRecord, ModelVersion, PrivacyRelease, PrivacySettings, Rule
from reranking.services import experiments, webhooks
from reranking.services.catalogue import upsert_items
from reranking.services.ingest import ingest_events
from tenants.models import ApiKey, Invite, Membership, Tenant, TenantOwned

from .routes import PUBLIC, STAFF_ONLY_PREFIX, Route, walk

pytestmark = pytest.mark.django_db

SECRET = "S3CRET-ALICE"
ALICE_IDS = ("alice-item-1", "alice-user-1")

OBJ = "object"  # the URL names one of alice's objects: charlie must get 404 (or 403)
COL = "collection"  # the caller's own rows (list, create, settings): charlie must see and change nothing of alice's


@dataclass(frozen=True)
class Probe:
    kind: str
    # URL keyword -> which of alice's objects fills it: item, user, rule, version, erasure, key.
    args: dict = field(default_factory=dict)
    body: dict | list | None = None  # sent with write methods (JSON for REST, form data for the UI)


def csv_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("items.csv", b"item_id,title\ncharlie-item-3,charlie's upload\n", content_type="text/csv")


PROBES: dict[str, Probe] = {
    # --- REST: the tenant comes from the key ---
    "tenant": Probe(COL, body={"name": "Charlie renamed"}),
    "recommendations": Probe(OBJ, {"user_id": "user"}),
    "recommendations-anonymous": Probe(COL),
    "rerank": Probe(COL, body={"candidates": list(ALICE_IDS)}),
    "privacy": Probe(COL, body={"epsilon": 2.0}),
    "privacy-ledger": Probe(COL),
    "item-list": Probe(COL),
    "item-bulk": Probe(COL, body=[{"item_id": "charlie-item-2", "title": "charlie's second"}]),
    "item-export": Probe(COL),
    "item-upload": Probe(COL, body="csv"),
    "item-detail": Probe(OBJ, {"external_id": "item"}),
    "item-similar": Probe(OBJ, {"external_id": "item"}),
    "event-list": Probe(COL, body={"events": [{"user_id": "alice-user-1", "item_id": "alice-item-1"}]}),
    "enduser-list": Probe(COL),
    "enduser-detail": Probe(OBJ, {"external_id": "user"}),
    "enduser-erase": Probe(OBJ, {"external_id": "user"}),
    "enduser-events": Probe(OBJ, {"external_id": "user"}),
    "enduser-export": Probe(OBJ, {"external_id": "user"}),
    "apikey-list": Probe(COL, body={"name": "charlie's", "scopes": ["read"]}),
    "apikey-detail": Probe(OBJ, {"id": "key"}),
    "rule-list": Probe(COL, body={"name": "c", "kind": "filter",
                                  "params": {"when": {"field": "category", "op": "eq", "value": "x"}}}),
    "rule-preview": Probe(COL, body={"user_id": "alice-user-1"}),
    "rule-detail": Probe(OBJ, {"id": "rule"}, body={"name": "taken over", "priority": 99}),
    "modelversion-list": Probe(COL),
    "modelversion-train": Probe(COL),
    "modelversion-detail": Probe(OBJ, {"number": "version"}),
    "modelversion-activate": Probe(OBJ, {"number": "version"}),
    "modelversion-cancel": Probe(OBJ, {"number": "queued"}),
    "erasure-list": Probe(COL),
    "erasure-detail": Probe(OBJ, {"id": "erasure"}),
    "online-metrics": Probe(COL),
    "online-settings": Probe(COL, body={"attribution_hours": 48}),
    "experiment-list": Probe(COL, body={"name": "c", "arms": [{"kind": "reranker", "share": 50},
                                                              {"kind": "popular", "share": 50}]}),
    "experiment-detail": Probe(OBJ, {"id": "experiment"}),
    "experiment-stop": Probe(OBJ, {"id": "experiment"}),
    "experiment-promote": Probe(OBJ, {"id": "experiment"}, body={"arm": "b"}),
    "webhook-list": Probe(COL, body={"url": "https://hooks.charlie.test/in", "events": ["model.activated"]}),
    "webhook-detail": Probe(OBJ, {"id": "webhook"}, body={"description": "taken over", "active": False}),
    "webhook-ping": Probe(OBJ, {"id": "webhook"}),
    "webhook-deliveries": Probe(OBJ, {"id": "webhook"}),
    # --- web UI: the tenant comes from the URL's slug and the user's membership ---
    "ui:dashboard": Probe(COL),
    "ui:items": Probe(COL),
    "ui:items-export": Probe(COL),
    "ui:item": Probe(OBJ, {"external_id": "item"}),
    "ui:upload": Probe(COL, body="csv"),
    "ui:upload-confirm": Probe(COL, body={"token": "guess"}),
    "ui:rules": Probe(COL),
    "ui:rule-new": Probe(COL, body={"name": "c", "kind": "filter", "priority": "0",
                                    "params": '{"when": {"field": "category", "op": "eq", "value": "x"}}'}),
    "ui:rule-edit": Probe(OBJ, {"pk": "rule"}, body={"name": "taken over", "kind": "boost", "priority": "99"}),
    "ui:rule-delete": Probe(OBJ, {"pk": "rule"}),
    "ui:rule-toggle": Probe(OBJ, {"pk": "rule"}),
    "ui:rule-move": Probe(OBJ, {"pk": "rule"}, body={"direction": "up"}),
    "ui:models": Probe(COL),
    "ui:train": Probe(COL),
    "ui:model": Probe(OBJ, {"number": "version"}),
    "ui:model-status": Probe(OBJ, {"number": "version"}),
    "ui:model-activate": Probe(OBJ, {"number": "version"}),
    "ui:model-cancel": Probe(OBJ, {"number": "queued"}),
    "ui:model-compare": Probe(OBJ, {"a": "version", "b": "version"}),
    "ui:privacy": Probe(COL, body={"action": "erase", "user": "alice-user-1"}),
    "ui:keys": Probe(COL, body={"name": "charlie's", "scopes": ["read"]}),
    "ui:key-revoke": Probe(OBJ, {"pk": "key"}),
    "ui:explorer": Probe(COL),
    "ui:item-edit": Probe(OBJ, {"external_id": "item"}, body={"title": "taken over"}),
    "ui:item-delete": Probe(OBJ, {"external_id": "item"}),
    "ui:upload-rejected": Probe(COL),
    "ui:team": Probe(COL, body={"role": "owner", "note": "charlie"}),
    "ui:member-role": Probe(OBJ, {"pk": "member"}, body={"role": "viewer"}),
    "ui:member-remove": Probe(OBJ, {"pk": "member"}),
    "ui:invite-revoke": Probe(OBJ, {"pk": "invite"}),
    "ui:online": Probe(COL),
    "ui:experiments": Probe(COL, body={"name": "c", "arm0_kind": "reranker", "arm0_share": "50",
                                       "arm1_kind": "popular", "arm1_share": "50"}),
    "ui:experiment": Probe(OBJ, {"pk": "experiment"}),
    "ui:experiment-stop": Probe(OBJ, {"pk": "experiment"}),
    "ui:experiment-promote": Probe(OBJ, {"pk": "experiment"}, body={"arm": "b"}),
    "ui:webhooks": Probe(COL, body={"url": "https://hooks.charlie.test/in", "events": ["model.activated"]}),
    "ui:webhook-ping": Probe(OBJ, {"pk": "webhook"}),
    "ui:webhook-toggle": Probe(OBJ, {"pk": "webhook"}),
    "ui:webhook-delete": Probe(OBJ, {"pk": "webhook"}),
}


def methods(route: Route) -> list[str]:
    """Every method the route answers, besides OPTIONS and HEAD."""
    actions = getattr(route.callback, "actions", None)  # a DRF viewset route: {"get": "list", ...}
    if actions:
        return sorted(actions)
    cls = route.view_class
    return [m for m in cls.http_method_names if m not in ("options", "head") and hasattr(cls, m)]


def audited_routes() -> list[Route]:
    return [r for r in walk() if not r.route.startswith(STAFF_ONLY_PREFIX) and r.name not in PUBLIC]


def test_every_route_is_public_by_design_or_probed():
    missing = []
    for r in audited_routes():
        if r.name not in PROBES:
            missing.append(
                f"- {r.route!r} (name {r.name!r}, methods {', '.join(methods(r)) if r.view_class else '?'}): add "
                f"PROBES[{r.name!r}] = Probe(OBJ, {{<url kwarg>: <alice's object>}}) in tests/security/"
                "test_isolation_audit.py if the URL names one object, Probe(COL) if it lists or creates the "
                "caller's own rows; or, if it shows no tenant data at all, list it in PUBLIC in "
                "tests/security/routes.py with the reason."
            )
    assert not missing, "URL patterns with no isolation probe:\n" + "\n".join(missing)
    stale = set(PROBES) - {r.name for r in audited_routes()}
    assert not stale, f"probes for routes that no longer exist: {sorted(stale)}"


# --- the two tenants ---------------------------------------------------------------------------


@pytest.fixture
def world(alice, charlie, monkeypatch, settings, tmp_path) -> dict:
    """One of each of alice's objects, every text field marked with SECRET; a little of charlie's own."""
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: None)
    monkeypatch.setattr("worker.tasks.precompute_rankings.delay", lambda *args: None)
    monkeypatch.setattr("worker.tasks.deliver_webhook.delay", lambda *args: None)
    settings.RECS_WEBHOOK_ALLOWED_PRIVATE_HOSTS = ["hooks.alice.test", "hooks.charlie.test"]
    Tenant.objects.filter(pk=alice.tenant.pk).update(name=f"{SECRET} shop")
    alice.tenant.refresh_from_db()
    upsert_items(alice.tenant, [{"item_id": "alice-item-1", "title": f"{SECRET} lamp", "category": f"{SECRET}-cat",
                                 "description": SECRET, "tags": [SECRET], "attributes": {"colour": SECRET}}])
    ingest_events(alice.tenant, [{"user_id": "alice-user-1", "item_id": "alice-item-1", "event_type": "purchase",
                                  "session_id": SECRET, "context": {"page": SECRET}}])
    PrivacyRelease.objects.create(tenant=alice.tenant, kind="analytics", description=f"{SECRET} release", epsilon=1.0,
                                  components=[{"kind": "pure", "epsilon": 1.0}])
    rule = Rule.objects.create(tenant=alice.tenant, name=f"{SECRET} rule", kind="filter",
                               params={"when": {"field": "category", "op": "eq", "value": SECRET}})
    ModelVersion.objects.create(tenant=alice.tenant, number=7, status="succeeded", rankings_ready=True,
                                activation_note=SECRET, metrics={"note": SECRET})
    ModelVersion.objects.create(tenant=alice.tenant, number=8, status="queued", phase=SECRET)
    erasure = ErasureRecord.objects.create(tenant=alice.tenant, via="api", api_key_name=SECRET)
    key, _ = ApiKey.issue(alice.tenant, f"{SECRET} key", ["read"])
    PrivacySettings.for_tenant(alice.tenant)
    upsert_items(charlie.tenant, [{"item_id": "charlie-item-1", "title": "Charlie's own"}])
    ingest_events(charlie.tenant, [{"user_id": "charlie-user-1", "item_id": "charlie-item-1"}])
    member = Membership.objects.get(tenant=alice.tenant, user__username="bob")
    invite, _ = Invite.issue(alice.tenant, "viewer", alice.owner, note=SECRET)
    experiment = experiments.start(alice.tenant, f"{SECRET} test", [
        {"name": "a", "kind": "reranker", "share": 50}, {"name": "b", "kind": "version", "version": 7, "share": 50}])
    endpoint, _ = webhooks.create_endpoint(alice.tenant, f"https://hooks.alice.test/{SECRET}", ["model.activated"],
                                           description=SECRET)
    webhooks.emit(alice.tenant, "model.activated", {"note": SECRET})
    return {"item": "alice-item-1", "user": "alice-user-1", "rule": rule.pk, "version": 7, "queued": 8,
            "erasure": erasure.pk, "key": key.pk, "member": member.pk, "invite": invite.pk,
            "experiment": experiment.pk, "webhook": endpoint.pk}


def alices_rows(tenant: Tenant) -> dict:
    """Every row alice's tenant owns, in every tenant-owned table, plus the tenant and its memberships."""
    rows = {"tenant": list(Tenant.objects.filter(pk=tenant.pk).values()),
            "memberships": list(Membership.objects.filter(tenant=tenant).order_by("pk").values())}
    for model in apps.get_models():
        if issubclass(model, TenantOwned):
            rows[model._meta.label] = list(model.objects.filter(tenant=tenant).order_by("pk").values())
    return rows


def url_for(route: Route, probe: Probe, ids: dict, slug: str | None) -> str:
    kwargs = {name: ids[which] for name, which in probe.args.items()}
    if slug is not None:
        kwargs["tenant_slug"] = slug
    return reverse(route.name, kwargs=kwargs)


def send(client, method: str, url: str, probe: Probe, rest: bool):
    if method in ("get", "delete") or probe.body is None or (not rest and method != "post"):
        return getattr(client, method)(url)
    if probe.body == "csv":
        return getattr(client, method)(url, {"file": csv_file()}, **({"format": "multipart"} if rest else {}))
    if rest:
        return getattr(client, method)(url, probe.body, format="json")
    return getattr(client, method)(url, probe.body)


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def requests_for(route: Route, probe: Probe, ids: dict, alice, charlie):
    """(label, client, url, rest) for each way charlie can aim at this route."""
    if route.is_api:
        charlie.client.raise_request_exception = False  # a crash is reported as the 500 a client would get
        yield "charlie's key", charlie.client, url_for(route, probe, ids, None), True
        return
    session = Client(raise_request_exception=False)
    session.force_login(charlie.owner)
    yield "charlie under alice's slug", session, url_for(route, probe, ids, alice.tenant.slug), False
    yield "charlie under his slug", session, url_for(route, probe, ids, charlie.tenant.slug), False


def check(route: Route, probe: Probe, label: str, method: str, url: str, response, own_slug: bool) -> list[str]:
    where = f"{method.upper()} {url} ({route.name}, {label}) -> {response.status_code}"
    problems = []
    body = body_of(response)
    if response.status_code >= 500:
        problems.append(f"{where}: server error")
    naming_alices = probe.kind == OBJ or not own_slug
    if naming_alices and response.status_code not in (403, 404):
        problems.append(f"{where}: expected 404 or 403 for alice's {'object' if probe.kind == OBJ else 'tenant'}")
    if SECRET in body:
        problems.append(f"{where}: the answer shows alice's data")
    elif probe.kind == COL and method == "get" and any(i in body for i in ALICE_IDS):
        problems.append(f"{where}: the answer shows alice's ids")
    return problems


def test_charlie_reaches_nothing_of_alices_anywhere(world, alice, charlie):
    problems, sent = [], 0
    before = alices_rows(alice.tenant)
    for route in audited_routes():
        probe = PROBES[route.name]
        for label, client, url, rest in requests_for(route, probe, world, alice, charlie):
            own_slug = rest or label == "charlie under his slug"
            for method in methods(route):
                response = send(client, method, url, probe, rest)
                sent += 1
                problems += check(route, probe, label, method, url, response, own_slug)
                after = alices_rows(alice.tenant)
                if after != before:
                    changed = sorted(k for k in before if before[k] != after.get(k))
                    problems.append(f"{method.upper()} {url} ({route.name}, {label}) changed alice's {changed}")
                    before = after
    assert sent > len(PROBES) * 2, f"the audit sent only {sent} requests"
    assert not problems, f"{len(problems)} isolation problems in {sent} requests:\n" + "\n".join(problems)


def test_alice_reaches_the_same_urls(world, alice):
    """The control: with alice's own credentials, the GETs charlie was refused succeed."""
    session = Client()
    session.force_login(alice.owner)
    failures, checked = [], 0
    for route in audited_routes():
        probe = PROBES[route.name]
        if probe.kind != OBJ or "get" not in methods(route):
            continue
        client, slug = (alice.client, None) if route.is_api else (session, alice.tenant.slug)
        url = url_for(route, probe, world, slug)
        response = client.get(url)
        checked += 1
        if response.status_code != 200:
            failures.append(f"GET {url} ({route.name}) -> {response.status_code}")
    assert checked > 10
    assert not failures, "alice cannot reach her own objects, so the audit proves nothing:\n" + "\n".join(failures)


def test_public_routes_show_no_tenant_data(world, alice, charlie):
    session = Client()
    session.force_login(charlie.owner)
    for route in walk():
        if route.name not in PUBLIC:
            continue
        # A guessed token, for routes that take one (the invite link): it must show nothing.
        url = reverse(route.name, kwargs={"token": "guessed-token"} if "<str:token>" in route.route else None)
        for client in (Client(), session):
            response = client.get(url, follow=True)
            assert response.status_code < 500, url
            assert SECRET not in body_of(response), url


def test_django_admin_is_for_staff_only(world, charlie):
    """Admin routes are not tenant-scoped, so no tenant's user may use them: charlie is sent to log in."""
    session = Client()
    session.force_login(charlie.owner)
    pages = [r for r in walk() if r.route.startswith(STAFF_ONLY_PREFIX) and r.name and "<" not in r.route
             and "(?P" not in r.route and r.name not in ("admin:login", "admin:logout")]
    assert len(pages) > 5
    for route in pages:
        response = session.get(reverse(route.name))
        assert response.status_code == 302 and "/admin/login/" in response["Location"], route.name
