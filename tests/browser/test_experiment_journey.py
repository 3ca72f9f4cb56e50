"""An A/B test in the browser: start it, see per-arm figures, promote the winner (issue 15)."""
from __future__ import annotations

import pytest

from reranking.models import Experiment, ModelVersion
from reranking.services.ingest import ingest_events
from tests.online.conftest import V2_LIST, ready_version

from .conftest import LAPTOP, login, shot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_start_an_experiment_see_per_arm_figures_and_promote_the_winner(open_page, alice, catalogue):
    from tests.ui.helpers import load_events

    load_events(alice.tenant)
    ingest_events(alice.tenant, [{"user_id": f"u{n}", "item_id": "sku-1", "event_type": "view"} for n in range(40)])
    ready_version(alice.tenant, 1, ["sku-1", "sku-2", "sku-3"], active=True)
    ready_version(alice.tenant, 2, V2_LIST)

    page = open_page(LAPTOP)
    login(page, "alice", "pw-alice")
    page.click("nav >> text=Experiments")
    page.fill("input[name=name]", "v2 against v1")
    page.select_option("select[name=arm1_kind]", "version")
    page.select_option("select[name=arm1_version]", "2")
    page.click("#start button[type=submit]")
    page.wait_for_selector("#arms")
    experiment = Experiment.objects.get()
    assert experiment.is_running and [a.name for a in experiment.arms.all()] == ["reranker", "v2"]

    for n in range(40):  # traffic: users of v2's arm click its first item
        body = alice.client.get(f"/api/v1/users/u{n}/recommendations?k=3").json()
        if body["experiment"]["arm"] == "v2":
            ingest_events(alice.tenant, [{"user_id": f"u{n}", "item_id": body["items"][0]["item_id"],
                                          "event_type": "click", "recommendation_id": body["recommendation_id"]}])
    page.reload()
    v2 = page.locator("tr[data-arm=v2]")
    control = page.locator("tr[data-arm=reranker]")
    assert "100.00%" in v2.inner_text() and "significant" in v2.inner_text()
    assert "0.00%" in control.inner_text() and "leading" in v2.inner_text()
    shot(page, "experiment-results")

    v2.locator("text=Promote").click()
    page.wait_for_selector("text=is active")
    assert "promoted" in page.locator("tr[data-arm=v2]").inner_text()
    assert ModelVersion.objects.get(is_active=True).number == 2
    assert not Experiment.objects.get().is_running
