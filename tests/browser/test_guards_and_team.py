"""Issue 16's journeys in headless Chromium: guards on what cannot be undone, cancel, invites, lockout.

Screenshots at 1280 and 390 px go to test-artifacts/screenshots/.
"""
from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from reranking.ml.train import Cancelled
from reranking.models import Event, ModelVersion, PrivacySettings, RunStatus
from reranking.services import training
from tenants.models import Membership

from .conftest import LAPTOP, PHONE, login, shot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport, size", [(LAPTOP, "1280"), (PHONE, "390")])
def test_a_retention_that_deletes_events_is_previewed_and_needs_a_tick(open_page, alice, ui_events, viewport, size):
    Event.objects.filter(tenant=alice.tenant).update(timestamp=timezone.now() - timedelta(days=60))
    page = open_page(viewport)
    login(page, "alice", "pw-alice")
    page.goto(f"/t/{alice.tenant.slug}/privacy/")
    page.fill("#id_retention_days", "30")
    page.click("text=Save")
    assert "This will delete 6 interactions" in page.inner_text("#retention-confirm")
    shot(page, f"guard-retention-preview-{size}")
    assert PrivacySettings.for_tenant(alice.tenant).retention_days is None
    page.check("#id_confirm_retention")
    page.click("text=Save")
    page.wait_for_selector("text=Privacy settings saved.")
    assert PrivacySettings.objects.get(tenant=alice.tenant).retention_days == 30


def test_pseudonymous_ids_need_the_slug_typed_then_show_locked(open_page, alice):
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.goto(f"/t/{alice.tenant.slug}/privacy/")
    page.check("#id_pseudonymous_ids")
    page.click("text=Save")
    page.wait_for_selector("text=Type alice-shop to turn them on.")
    assert not PrivacySettings.for_tenant(alice.tenant).pseudonymous_ids
    page.check("#id_pseudonymous_ids")
    page.fill("#id_confirm_pseudonyms", "alice-shop")
    page.click("text=Save")
    page.wait_for_selector("#pseudonyms-locked")
    assert page.locator("#id_pseudonymous_ids").count() == 0
    shot(page, "guard-pseudonyms-locked")


def worker_loop(run_id: int, stopped: dict) -> None:
    """Play a worker's training loop: report progress every 50 ms until a report says the run was cancelled."""
    run = ModelVersion.objects.get(pk=run_id)
    ModelVersion.objects.filter(pk=run_id).update(status=RunStatus.RUNNING, started_at=timezone.now())
    try:
        for step in range(2000):
            training.set_progress(run, "training epoch 1/8", 20 + step / 100)
            time.sleep(0.05)
    except Cancelled:
        stopped["at"] = time.monotonic()
    finally:
        connection.close()


def test_cancel_stops_the_run_and_training_can_start_again(open_page, alice, monkeypatch):
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: None)
    run, _ = training.request_training(alice.tenant, enqueue=False)
    stopped: dict = {}
    worker = threading.Thread(target=worker_loop, args=(run.pk, stopped), daemon=True)
    worker.start()
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.goto(f"/t/{alice.tenant.slug}/models/")
    page.wait_for_selector("#training[data-state=running]")
    assert re.search(r"elapsed", page.inner_text("#training [data-label]"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("text=Cancel training")
    clicked = time.monotonic()
    page.wait_for_selector("text=Cancelled by alice at phase training epoch 1/8")
    worker.join(10)
    assert "at" in stopped and stopped["at"] - clicked < 10
    shot(page, "cancel-done")
    page.click("text=Train now")
    page.wait_for_selector(f"text=Training v{run.number + 1} queued.")


def test_an_invite_is_accepted_in_a_second_browser(open_page, alice):
    owner = open_page(LAPTOP)
    login(owner, "alice", "pw-alice")
    owner.click("nav >> text=Team")
    owner.select_option("#id_role", "admin")
    owner.fill("#id_note", "dana@example.com")
    owner.click("text=Create invite link")
    link = owner.inner_text("#invite-link").strip()
    shot(owner, "team-invite-link")
    owner.reload()  # F5 after creating: no second invite, and the link is not shown again
    assert owner.locator("#invite-link").count() == 0

    newcomer = open_page(PHONE)
    newcomer.goto(link)
    newcomer.fill("#id_username", "dana")
    newcomer.fill("#id_password1", "a-long-pass-9")
    newcomer.fill("#id_password2", "a-long-pass-9")
    shot(newcomer, "team-invite-accept-390")
    newcomer.click("text=Create account and join")
    newcomer.wait_for_selector("text=you joined as admin")
    assert Membership.objects.get(tenant=alice.tenant, user__username="dana").role == "admin"
    owner.reload()
    assert "dana" in owner.inner_text("#members")
    shot(owner, "team-members")


def test_login_locks_after_five_wrong_passwords(open_page, alice):
    page = open_page(LAPTOP)
    for _ in range(5):
        page.goto("/accounts/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "wrong")
        page.click("button[type=submit]")
    page.goto("/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    page.wait_for_selector("#locked-out")
    assert "Too many failed log-ins" in page.inner_text("#locked-out")
    shot(page, "login-locked-out")
