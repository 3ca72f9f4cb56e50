"""Passwords and API keys never reach a log, nor an error report.

Everything logged at DEBUG and above (with SQL logging on) is captured while a user logs in (right and
wrong password), creates a key in the web UI and through the API, and calls the API with keys (valid,
wrong, as a header and as a bearer token). Crashes are forced in those same paths; each crash's log
record is also rendered the way Django's AdminEmailHandler and DEBUG page would (ExceptionReporter, HTML
with local variables, POST data and headers). The raw password and key must appear nowhere.
"""
from __future__ import annotations

import logging
import re

import pytest
from django.db import connection
from django.test import Client
from django.views.debug import ExceptionReporter

from tests.conftest import api_client

pytestmark = pytest.mark.django_db

PASSWORD = "pw-alice"  # alice's password (tests/conftest.py)
WRONG_PASSWORD = "Wr0ng-but-still-a-secret"
KEY_RE = re.compile(r"rk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


class Capture(logging.Handler):
    """Keep every record as text; for a crash, also the error report an admin mail would carry."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        request = getattr(record, "request", None)
        if record.exc_info and request is not None:
            reporter = ExceptionReporter(request, *record.exc_info, is_email=True)
            self.texts += [reporter.get_traceback_text(), reporter.get_traceback_html()]

    def crashes(self) -> int:
        return sum("Traceback" in text for text in self.texts)


@pytest.fixture
def logs():
    handler = Capture()
    root, sql = logging.getLogger(), logging.getLogger("django.db.backends")
    levels = (root.level, sql.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # log every SQL statement, as DEBUG=True would
    yield handler
    connection.force_debug_cursor = False
    root.removeHandler(handler)
    root.setLevel(levels[0])
    sql.setLevel(levels[1])


def crashing(monkeypatch, target: str) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("forced crash")

    monkeypatch.setattr(target, boom)


def leaks(logs: Capture, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if any(secret in text for text in logs.texts)]


def test_logging_in_never_logs_the_password(alice, logs, monkeypatch):
    client = Client(raise_request_exception=False)
    assert client.post("/accounts/login/", {"username": "alice", "password": WRONG_PASSWORD}).status_code == 200
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.logout()
    crashing(monkeypatch, "django.contrib.auth.views.LoginView.form_valid")
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 500
    assert logs.crashes() >= 1 and len(logs.texts) > 5, "the capture saw the requests and the crash"
    assert leaks(logs, [PASSWORD, WRONG_PASSWORD]) == []


def test_creating_and_using_keys_never_logs_them(alice, logs, monkeypatch):
    owner = Client(raise_request_exception=False)
    owner.force_login(alice.owner)
    page = owner.post(f"/t/{alice.tenant.slug}/keys/", {"name": "shop backend", "scopes": ["read"]}, follow=True)
    ui_key = KEY_RE.search(page.content.decode()).group(0)
    created = alice.client.post("/api/v1/keys", {"name": "via api", "scopes": ["ingest"]}, format="json")
    api_key = created.json()["secret"]
    wrong = ui_key[:-4] + ("AAAA" if not ui_key.endswith("AAAA") else "BBBB")
    assert api_client(ui_key).get("/api/v1/items").status_code == 200
    bearer = Client()
    assert bearer.get("/api/v1/items", HTTP_AUTHORIZATION=f"Bearer {api_key}").status_code == 403  # ingest only
    assert api_client(wrong).get("/api/v1/items").status_code == 401
    secrets = [ui_key, api_key, wrong, alice.raw_key]
    assert logs.crashes() == 0 and len(logs.texts) > 10
    assert leaks(logs, secrets) == []


@pytest.mark.parametrize("crash_in", [
    "reranking.views.keys.ApiKeyListView.render_to_response",  # after the UI made the key, while showing it
    "tenants.api.views.IssuedKeySerializer.to_representation",  # after the API made it, while answering
])
def test_a_crash_while_creating_a_key_reports_no_secret(alice, logs, monkeypatch, crash_in):
    from tenants.models import ApiKey

    issued = []
    real_issue = ApiKey.issue.__func__

    def issue(cls, *args, **kwargs):
        key, raw = real_issue(cls, *args, **kwargs)
        issued.append(raw)
        return key, raw

    monkeypatch.setattr(ApiKey, "issue", classmethod(issue))
    crashing(monkeypatch, crash_in)
    if crash_in.startswith("reranking"):
        owner = Client(raise_request_exception=False)
        owner.force_login(alice.owner)
        response = owner.post(f"/t/{alice.tenant.slug}/keys/", {"name": "x", "scopes": ["read"]}, follow=True)
    else:
        alice.client.raise_request_exception = False
        response = alice.client.post("/api/v1/keys", {"name": "x", "scopes": ["read"]}, format="json")
    assert response.status_code == 500 and len(issued) == 1
    assert logs.crashes() >= 1
    assert any("forced crash" in text and "Local vars" in text.replace("Local Vars", "Local vars") for text in logs.texts)
    assert leaks(logs, [issued[0], alice.raw_key]) == []


def test_a_crash_while_checking_a_key_reports_no_key(alice, logs, monkeypatch):
    crashing(monkeypatch, "tenants.authentication.ApiKeyPrincipal.__init__")
    client = api_client(alice.raw_key)
    client.raise_request_exception = False
    assert client.get("/api/v1/items").status_code == 500
    assert logs.crashes() >= 1
    assert leaks(logs, [alice.raw_key]) == []
