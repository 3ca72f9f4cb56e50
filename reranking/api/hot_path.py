"""GET recommendations without DRF's per-request machinery, for the requests that need none of it.

The endpoint is the most called one, and a warm request's own work is small: one Redis round trip
(throttle counters and the user's ranking, tenants/throttling.py) and a slice of a list. DRF's request
wrapping, negotiation, response and renderer would cost about as much again. So RecommendationsView's
URL entry point (`hot_path.view`) answers the plain case itself with the same policy functions DRF
calls: the key lookup and check (tenants/authentication.py), the scope check, the throttle (counted
once), the memoised query validation and serving.recommend. Anything else it hands, untouched, to the
DRF view, which answers as it always did:

- not a GET, an Accept header other than anything or JSON, `?format=`, or a query string not yet
  validated in this process (the DRF view validates it and fills the memo);
- no key, an unknown, revoked or wrong key, or one without the read scope (401/403 from DRF);
- a throttled request, or one serving refuses (bad k or page, unknown user, a lost database): the
  request's throttle outcome goes with it, so DRF answers 429/400/404/503 without counting it twice.

The body and headers are the DRF view's (tests/serving/test_hot_path.py compares them field by field).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import orjson
from django.http import HttpResponse
from django.views.decorators.debug import sensitive_variables
from rest_framework.exceptions import AuthenticationFailed, ValidationError

from reranking.services import identity, served_log, serving
from tenants.api.errors import DATABASE_DOWN
from tenants.api.renderers import PLAIN_ACCEPTS
from tenants.authentication import authenticated_key, raw_key_from
from tenants.models import ApiKey, Scope
from tenants.throttling import decide

from . import serving_serializers as s

# What DRF's APIView adds to every response of this view (finalize_response).
HEADERS = {"Allow": "GET, POST, HEAD, OPTIONS"}


# One instance, so its fields are built (deep-copied) once per process rather than per request;
# run_validation keeps no state on the serializer, so concurrent requests can share it.
RECOMMENDATIONS_QUERY = s.RecommendationsQuery()
QUERY_MEMO_MAX = 1024
_query_memo: dict[str, tuple[Mapping, dict]] = {}


def recommendations_query(request) -> tuple[Mapping, dict]:
    """Return the validated query and its `attr.<name>` filters; memoised by the raw query string.

    Validation depends on the query string alone, so the memo is exact (clients repeat the same few
    queries); invalid queries raise every time and are not memoised.
    """
    raw = request.META.get("QUERY_STRING", "")
    hit = _query_memo.get(raw)
    if hit is None:
        params = request.query_params
        q = MappingProxyType(RECOMMENDATIONS_QUERY.run_validation(params))
        attributes = attribute_filters(params)
        if len(_query_memo) >= QUERY_MEMO_MAX:
            _query_memo.clear()
        hit = _query_memo[raw] = (q, attributes)
    return hit


def attribute_filters(params) -> dict[str, str]:
    """Return the `attr.<name>=<value>` filters of a query; a bare `attr.` is refused (400) naming it."""
    attributes = {}
    for key, value in params.items():
        if key.startswith("attr."):
            name = key[len("attr."):]
            if not name.strip():
                raise ValidationError({key: "Name the attribute: attr.<name>=<value>."})
            attributes[name] = value
    return attributes


def split_ids(value: str | None) -> list[str] | None:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def filters_of(q: Mapping, attributes: dict) -> dict:
    return {
        "category": split_ids(q.get("category")), "price_min": q.get("price_min"), "price_max": q.get("price_max"),
        "in_stock": q["in_stock"], "attributes": dict(attributes),
    }


def body_of(served: serving.Served, explain: bool) -> dict:
    """The response body of a served list: one shape for both paths."""
    body = {
        "recommendation_id": served.recommendation_id, "placement": served.placement, "strategy": served.strategy,
        "model_version": served.version,
        "fresh": served.fresh, "privacy": served.privacy, "items": served.items, "unknown": served.unknown,
    }
    if served.arm is not None:  # an A/B experiment's arm, for the client's own analytics (issue 15)
        body["experiment"] = {"id": served.arm.experiment_id, "arm": served.arm.name}
    if explain:
        body.update(removed=served.removed, not_applied=served.not_applied)
    return body


@sensitive_variables("raw")
def plain_key(request) -> ApiKey | None:
    """The request's key when it is valid, active and may read (its use recorded); None sends it to DRF."""
    raw = raw_key_from(request)
    if raw is None:
        return None
    try:
        key = authenticated_key(raw)  # the check DRF's authentication makes
    except AuthenticationFailed:
        return None
    return key if key.has_scope(Scope.READ) else None


def recommendations(request, drf_view, **kwargs):
    """Answer a plain GET recommendations request, or hand it to `drf_view` (see the module docstring)."""
    meta = request.META
    query = meta.get("QUERY_STRING", "")
    hit = _query_memo.get(query)
    if (
        request.method != "GET" or hit is None or meta.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPTS
        or "format" in query or (key := plain_key(request)) is None
    ):
        return drf_view(request, **kwargs)
    q, attributes = hit
    if q.get("epsilon") is not None:  # a per-request epsilon needs an admin key: DRF's view checks it
        return drf_view(request, **kwargs)
    tenant = key.tenant
    request.tenant = tenant
    user = identity.stored_user_id(tenant, kwargs.get("user_id"))
    wait, prefetched = decide(tenant, key, serving.cache_reads(tenant, user))
    if wait is None:
        try:
            served = serving.recommend(
                tenant, user, k=q["k"], page=q["page"], filters=filters_of(q, attributes),
                context=split_ids(q.get("context")), explain=q["explain"], prefetched=prefetched,
                placement=q["placement"], session_id=q.get("session_id"),
            )
        except (serving.ServingError, serving.UnknownUser, *DATABASE_DOWN):
            served = None
        if served is not None:
            served_log.record(tenant, user, served)
            return HttpResponse(orjson.dumps(body_of(served, q["explain"])), content_type="application/json",
                                headers=HEADERS)
    request.throttle_outcome = (wait, prefetched)  # counted: DRF must not count it again
    return drf_view(request, **kwargs)
