"""The main journeys of a tenant admin, in headless Chromium on a live server, with screenshots."""
from __future__ import annotations

import re
import threading
import time

import pytest
from django.db import connection

from reranking.models import Item, ModelVersion, Rule
from tenants.models import ApiKey

from .conftest import LAPTOP, PHONE, login, shot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BAD_CSV = (
    "item_id,title,category,price\n"
    "new-1,Brand new,toys,9.99\n"
    "new-2,Broken price,toys,abc\n"
    "new-3,Also new,toys,5\n"
)


def test_log_in_and_upload_a_csv_with_a_bad_row(open_page, alice, catalogue, tmp_path):
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.click("text=Catalogue")
    page.click("text=Upload CSV")
    bad = tmp_path / "items.csv"
    bad.write_text(BAD_CSV)
    page.set_input_files("input[type=file]", str(bad))
    page.click("text=Preview changes")
    error = page.locator("#row-errors tr.error-row")
    assert error.count() == 1
    assert "new-2" in error.inner_text() and "price" in error.inner_text()
    assert ">3<" in error.inner_html()  # the file's line 3
    assert page.locator("text=Confirm import").count() == 0 and page.is_visible("text=Import the 2 good rows")
    shot(page, "upload-bad-row")
    assert not Item.objects.filter(external_id__startswith="new-").exists()

    good = tmp_path / "fixed.csv"
    good.write_text(BAD_CSV.replace("abc", "12"))
    page.set_input_files("input[type=file]", str(good))
    page.click("text=Preview changes")
    page.click("text=Confirm import")
    page.wait_for_selector("text=Imported: 3 new, 0 updated, 0 unchanged.")
    assert Item.objects.filter(external_id__startswith="new-").count() == 3


def after_column(page) -> list[str]:
    return page.locator("table.preview-after code").all_inner_texts()


def preview(page) -> None:
    """Click Preview and wait until the script has swapped in the new panel (no page load)."""
    page.evaluate("document.getElementById('preview').dataset.stale = '1'")
    page.click("button[name=preview]")
    page.wait_for_selector("#preview:not([data-stale])")


def test_create_a_boost_rule_and_see_the_preview_change(open_page, alice, ui_events):
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.click("nav >> text=Rules")
    page.click("text=New rule")
    page.fill("#id_p-candidates", "sku-1 sku-2 sku-3 sku-4")
    page.fill("#id_name", "games first")
    page.select_option("#id_kind", "boost")
    page.click("#advanced > summary")  # the JSON view (tests/browser/test_rule_builder.py uses the pickers)
    page.fill("#id_params", '{"when": {"field": "category", "op": "eq", "value": "books"}, "weight": 0.001}')
    preview(page)
    unchanged = after_column(page)
    assert unchanged == page.locator("table.preview-before code").all_inner_texts()  # a tiny boost moves nothing

    page.fill("#id_params", '{"when": {"field": "category", "op": "eq", "value": "games"}, "weight": 2}')
    preview(page)
    changed = after_column(page)
    assert changed != unchanged and changed[:2] == ["sku-2", "sku-4"]
    assert "games first" in page.locator("table.preview-after").inner_text()
    assert not Rule.objects.exists()  # previewing saves nothing
    shot(page, "rule-preview")

    page.click("button[name=save]")
    page.wait_for_selector("text=Saved rule 'games first'.")
    assert Rule.objects.get().params["weight"] == 2


def simulate_training(tenant, stop: threading.Event) -> None:
    """Move the queued run through its phases as a worker would, while the page polls (no real training)."""
    try:
        run = None
        while run is None and not stop.is_set():
            run = ModelVersion.objects.filter(tenant=tenant, status="queued").first()
            time.sleep(0.2)
        steps = [("running", "embedding", 5), ("running", "training epoch 1/2", 35),
                 ("running", "training epoch 2/2", 70), ("running", "precompute 1/1", 90), ("succeeded", "done", 100)]
        for status, phase, progress in steps:
            if stop.wait(1.2):
                return
            live = {"is_active": True, "activated_at": run.created_at} if status == "succeeded" else {}
            ModelVersion.objects.filter(pk=run.pk).update(status=status, phase=phase, progress=progress,
                                                          started_at=run.created_at, **live)
    finally:
        connection.close()


def test_start_training_and_watch_the_progress_bar_reach_done(open_page, alice, monkeypatch):
    monkeypatch.setattr("worker.tasks.train_reranker.delay", lambda *args: None)  # the thread plays the worker
    page = open_page(LAPTOP)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/status") else None)
    login(page, "alice", "pw-alice")
    page.goto(f"/t/{alice.tenant.slug}/models/")
    stop = threading.Event()
    worker = threading.Thread(target=simulate_training, args=(alice.tenant, stop), daemon=True)
    worker.start()
    try:
        page.click("text=Train now")
        page.wait_for_selector("#training[data-state=running]")
        shot(page, "training-running")
        page.wait_for_selector("#training[data-state=succeeded]", timeout=30_000)
    finally:
        stop.set()
        worker.join(10)
    assert page.inner_text("#training [data-label]").startswith("succeeded after")
    assert "v1 is live: it is the first model trained on your data." in page.inner_text("#training [data-outcome]")
    assert page.locator("#training .progress.done").count() == 1
    assert page.eval_on_selector("#training .bar", "el => el.style.width") == "100%"
    assert len(polls) >= 4  # the page itself polled the status endpoint; no reload
    assert page.inner_text("[data-run-status='1']") == "succeeded"  # the history row followed
    page.wait_for_timeout(500)  # let the bar's width transition finish before the screenshot
    shot(page, "training-done")


def test_create_and_revoke_an_api_key(open_page, alice):
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.click("text=API keys")
    page.fill("#id_name", "shop backend")
    page.check("input[name=scopes][value=ingest]")
    page.click("text=Create key")
    secret = page.inner_text("#secret").strip()
    assert ApiKey.objects.get(name="shop backend").matches(secret)
    page.click("[data-copy]")
    page.wait_for_selector("text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "api-key-created")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("tr[data-key='shop backend'] >> text=Revoke")
    page.wait_for_selector("text=Revoked 'shop backend'")
    assert "revoked" in page.inner_text("tr[data-key='shop backend']")
    assert not ApiKey.objects.get(name="shop backend").is_active
    assert secret not in page.content()
    shot(page, "api-key-revoked")


@pytest.mark.parametrize("name", ["dashboard", "items", "rules", "models", "explorer", "privacy", "keys", "team",
                                  "compare", "item-edit"])
def test_every_page_fits_a_phone(open_page, alice, ui_events, name):
    for number in (1, 2):
        ModelVersion.objects.create(tenant=alice.tenant, number=number, status="succeeded", rankings_ready=True,
                                    metrics={"methods": [{"name": "reranker", "ndcg@10": 0.3 + number / 100},
                                                         {"name": "item_knn", "ndcg@10": 0.2}]})
    Rule.objects.create(tenant=alice.tenant, name="a rule with a long name to wrap", kind="boost",
                        params={"when": {"field": "category", "op": "eq", "value": "books"}, "weight": 0.2})
    page = open_page(PHONE)
    login(page, "alice", "pw-alice")
    paths = {"dashboard": "", "items": "items/", "rules": "rules/", "models": "models/",
             "explorer": "explorer/?user=ben", "privacy": "privacy/", "keys": "keys/", "team": "team/",
             "compare": "models/compare/1/2/", "item-edit": "edit-item/sku-1"}
    page.goto(f"/t/{alice.tenant.slug}/{paths[name]}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"
    shot(page, f"phone-{name}")


def test_the_nav_collapses_behind_a_menu_button_on_a_phone(open_page, alice):
    page = open_page(PHONE)
    login(page, "alice", "pw-alice")
    assert not page.is_visible("nav.nav") and page.is_visible(".nav-toggle")
    page.click(".nav-toggle")
    assert page.is_visible("nav.nav >> text=Rules")
    shot(page, "phone-menu-open")
    page.click("nav.nav >> text=Rules")
    page.wait_for_url(re.compile(r".*/rules/$"))


def test_the_laptop_nav_is_always_visible(open_page, alice):
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    assert page.is_visible("nav.nav >> text=Rules") and not page.is_visible(".nav-toggle")
    shot(page, "laptop-dashboard")


def test_charts_render_on_the_dashboard_and_models_pages(open_page, alice, ui_events):
    for number, (baseline, reranker) in enumerate([(0.10, 0.21), (0.12, 0.26), (0.11, 0.31)], start=1):
        methods = [{"name": "popular", "ndcg@10": baseline, "hit@10": 0.3}, {"name": "reranker", "ndcg@10": reranker}]
        ModelVersion.objects.create(tenant=alice.tenant, number=number, status="succeeded", rankings_ready=True,
                                    is_active=number == 3, metrics={"methods": methods})
    ModelVersion.objects.create(tenant=alice.tenant, number=4, status="failed", error="RuntimeError: out of memory")
    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    assert page.locator("svg.bars rect.bar").count() == 30
    shot(page, "laptop-dashboard-events")
    page.goto(f"/t/{alice.tenant.slug}/models/")
    assert page.locator(".linechart polyline").count() == 2
    assert page.is_visible("text=RuntimeError: out of memory")
    shot(page, "laptop-models-history")
