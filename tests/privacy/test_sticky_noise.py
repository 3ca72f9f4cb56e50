"""Sticky noise: a repeated request gets the same noised list; new scores get fresh noise."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from reranking import dp
from reranking.models import EndUser, ModelVersion, PrivacySettings, Ranking, RunStatus
from reranking.services import cache as recs_cache
from reranking.services import serving, sticky_noise
from reranking.services.catalogue import upsert_items

N_ITEMS = 40


def test_keyed_uniforms_are_uniform_and_fixed_by_key_and_label():
    labels = [f"item-{n}" for n in range(50_000)]
    u = dp.keyed_uniforms(b"k" * 32, labels)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert np.array_equal(u, dp.keyed_uniforms(b"k" * 32, labels))
    other = dp.keyed_uniforms(b"j" * 32, labels)
    assert abs(np.corrcoef(u, other)[0, 1]) < 0.02, "another key gives independent draws"


def test_keyed_noise_has_the_gumbel_scale_of_a_top_release_size_selection():
    # -log(-log u) * 2 M / eps is Gumbel(0, 2M/eps): its standard deviation is scale * pi / sqrt(6).
    u = dp.keyed_uniforms(b"s" * 16, [str(n) for n in range(100_000)])
    noise = -dp.gumbel_scale(2.0, 10) * np.log(-np.log(u))
    assert stats.kstest(noise, "gumbel_r", args=(0, 10.0)).pvalue > 1e-3


def test_a_smaller_k_reads_a_prefix_of_the_same_release():
    scores = np.linspace(0, 1, 30)
    labels = [f"i{n}" for n in range(30)]
    ten = dp.keyed_top_k(scores, labels, 10, 1.0, key=b"x" * 32, release_size=10)
    three = dp.keyed_top_k(scores, labels, 3, 1.0, key=b"x" * 32, release_size=10)
    assert list(three) == list(ten[:3])


@pytest.fixture
def ranked(alice):
    """alice's shop with DP on: 40 items, one end user ann whose active ranking holds all of them."""
    upsert_items(alice.tenant, [
        {"item_id": f"sku-{n}", "title": f"Item {n}", "category": "books" if n % 2 else "games", "price": n}
        for n in range(N_ITEMS)
    ])
    ann = EndUser.objects.create(tenant=alice.tenant, external_id="ann")
    version = ModelVersion.objects.create(tenant=alice.tenant, number=1, status=RunStatus.SUCCEEDED,
                                          rankings_ready=True, is_active=True, artifact_path="models/v1")
    Ranking.objects.create(tenant=alice.tenant, version=version, user=ann, user_external_id="ann",
                           items=[[f"sku-{n}", 1.0 - n / N_ITEMS] for n in range(N_ITEMS)])
    PrivacySettings.objects.filter(pk=PrivacySettings.for_tenant(alice.tenant).pk).update(
        dp_enabled=True, epsilon=1.0, max_results=10)
    return alice


def served_ids(tenant, **kwargs) -> list[str]:
    return [i["item_id"] for i in serving.recommend(tenant, "ann", **kwargs).items]


def as_another_process() -> None:
    """Forget every cached value (shared cache and per-process memos), as a fresh web process would."""
    from django.core.cache import cache

    cache.clear()
    recs_cache._local.clear()
    recs_cache.forget_items()


@pytest.mark.django_db
def test_a_repeated_request_gets_the_same_noised_list_in_every_process(ranked):
    first = served_ids(ranked.tenant, k=10)
    assert first != [f"sku-{n}" for n in range(10)], "at epsilon 1 the noise reorders the list"
    for _ in range(5):
        as_another_process()
        assert served_ids(ranked.tenant, k=10) == first
    assert served_ids(ranked.tenant, k=4) == first[:4], "a smaller k is a prefix of the same release"


@pytest.mark.django_db
def test_filters_choose_among_the_same_noisy_scores(ranked):
    everything = served_ids(ranked.tenant, k=10)
    books = served_ids(ranked.tenant, k=10, filters={"category": ["books"]})
    shared = [i for i in everything if i in set(books)]
    assert books[: len(shared)] == shared, "books that made the unfiltered list come first, in its order"


@pytest.mark.django_db
def test_new_scores_get_fresh_noise(ranked):
    lists = set()
    for step in range(12):  # the model (or the user's data) changes: the scores move a little
        scored = [(f"sku-{n}", 1.0 - n / N_ITEMS + (0.01 * step if n == 39 else 0.0)) for n in range(N_ITEMS)]
        chosen = sticky_noise.private_top_k(ranked.tenant, "ann", scored, scored, 10, 1.0, 10)
        lists.add(tuple(chosen))
    assert len(lists) > 1


def test_another_secret_key_draws_other_noise(settings):
    digest = sticky_noise.scored_digest([("a", 1.0)])
    before = sticky_noise.release_key(1, "ann", 1.0, 10, digest)
    settings.SECRET_KEY = settings.SECRET_KEY[::-1]  # another key
    assert sticky_noise.release_key(1, "ann", 1.0, 10, digest) != before


def test_the_key_depends_on_everything_the_list_depends_on():
    scored = [("a", 1.0), ("b", 0.5)]
    base = sticky_noise.release_key(1, "ann", 1.0, 10, sticky_noise.scored_digest(scored))
    assert base == sticky_noise.release_key(1, "ann", 1.0, 10, sticky_noise.scored_digest([("a", 1.00000001), ("b", 0.5)]))
    for changed in [
        sticky_noise.release_key(2, "ann", 1.0, 10, sticky_noise.scored_digest(scored)),
        sticky_noise.release_key(1, "ben", 1.0, 10, sticky_noise.scored_digest(scored)),
        sticky_noise.release_key(1, "ann", 2.0, 10, sticky_noise.scored_digest(scored)),
        sticky_noise.release_key(1, "ann", 1.0, 5, sticky_noise.scored_digest(scored)),
        sticky_noise.release_key(1, "ann", 1.0, 10, sticky_noise.scored_digest([("a", 1.0), ("b", 0.6)])),
    ]:
        assert changed != base


@pytest.mark.django_db
def test_only_an_admin_key_chooses_epsilon_per_request(ranked):
    url = "/api/v1/users/ann/recommendations?k=5&epsilon=2"
    refused = ranked.client_with("read").get(url)
    assert refused.status_code == 403 and "epsilon" in refused.json()["error"]["message"]
    assert ranked.client_with("read").get("/api/v1/users/ann/recommendations?k=5").status_code == 200
    allowed = ranked.client.get(url)
    assert allowed.status_code == 200 and allowed.json()["privacy"]["epsilon"] == 2
    assert allowed.json()["privacy"]["sticky"] is True
    rerank = ranked.client_with("read").post("/api/v1/rerank", {"candidates": ["sku-1", "sku-2"], "epsilon": 2},
                                              format="json")
    assert rerank.status_code == 403
