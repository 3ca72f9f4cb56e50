"""Serving endpoints: recommendations, live re-ranking, rules, privacy settings, erasures and model versions."""
from __future__ import annotations

import functools
from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from reranking import rules as engine
from reranking.models import ErasureRecord, ModelVersion, PrivacySettings, Rule
from reranking.services import identity, precompute, privacy_budget, served_log, serving, training
from tenants.api.base import TenantAPIView, TenantScopedViewSet
from tenants.api.schema import ErrorSerializer
from tenants.models import Scope

from . import hot_path, serving_serializers as s


def served_response(served: serving.Served, explain: bool) -> Response:
    return Response(hot_path.body_of(served, explain))


def run_serving(call, user_id: str | None = None):
    """Call serving; its errors become 400/404. `user_id` is the client's id, echoed in a 404 as sent."""
    try:
        return call()
    except serving.ServingError as exc:
        raise exceptions.ValidationError({exc.field: exc.message}) from exc
    except serving.UnknownUser as exc:
        # Not the id serving saw: under pseudonymous ids that is a hash.
        raise exceptions.NotFound(f"No end user {user_id!r} in this tenant.") from exc


def request_epsilon(request, epsilon: float | None) -> float | None:
    """Return a per-request epsilon only for an admin-scope key (403 otherwise; docs/privacy-budget.md).

    A read key that could pick its own epsilon could spend the users' privacy at will; the tenant's
    epsilon applies to everyone else.
    """
    if epsilon is not None and not request.auth.has_scope(Scope.ADMIN):
        raise exceptions.PermissionDenied("epsilon: only an admin-scope key may choose epsilon per request; "
                                          "other keys get the tenant's epsilon (leave the parameter out).")
    return epsilon


class RecommendationsView(TenantAPIView):
    """A user's top k from the active model, shaped by rules, filters and privacy settings.

    Without a user (`/api/v1/recommendations`), anonymous traffic gets content-based or popular items.
    """

    @functools.cached_property
    def stored_user(self) -> str | None:
        """The id the database holds for the path's user (a hash under pseudonymous ids), computed once."""
        return identity.stored_user_id(self.tenant, self.kwargs.get("user_id"))

    def cache_reads(self, request) -> list[str]:
        """Let the throttle read the user's ranking in its own Redis round trip (tenants/throttling.py)."""
        return serving.cache_reads(self.tenant, self.stored_user)

    @classmethod
    def as_view(cls, **initkwargs):
        """The URL entry point: plain requests are answered by hot_path.recommendations, the rest by DRF."""
        drf_view = super().as_view(**initkwargs)

        def view(request, *args, **kwargs):
            return hot_path.recommendations(request, drf_view, *args, **kwargs)

        return functools.update_wrapper(view, drf_view)  # keeps cls, initkwargs, csrf_exempt for DRF tools

    write_scope = Scope.READ  # POST only reads, like GET: its body is the query

    @extend_schema(parameters=[s.RecommendationsQuery], responses=s.ServedSerializer)
    def get(self, request, user_id: str | None = None):
        q, attributes = hot_path.recommendations_query(request)
        return self.serve(request, q, hot_path.filters_of(q, attributes), hot_path.split_ids(q.get("context")), user_id)

    @extend_schema(request=s.RecommendationsRequest, responses={200: s.ServedSerializer, 404: ErrorSerializer})
    def post(self, request, user_id: str | None = None):
        """The same list as GET, asked with a JSON body: an anonymous session's items as a list (`session`),
        filters as JSON (`category` a list, `attributes` an object)."""
        body = s.RecommendationsRequest(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        filters = {
            "category": d.get("category") or None, "price_min": d.get("price_min"), "price_max": d.get("price_max"),
            "in_stock": d["in_stock"], "attributes": dict(d.get("attributes") or {}),
        }
        return self.serve(request, d, filters, list(d.get("session") or []) or None, user_id)

    def serve(self, request, q, filters: dict, context: list[str] | None, user_id: str | None) -> Response:
        user = self.stored_user
        served = run_serving(
            lambda: serving.recommend(
                self.tenant, user, k=q["k"], page=q["page"], filters=filters, context=context,
                explain=q["explain"], epsilon=request_epsilon(request, q.get("epsilon")), placement=q["placement"],
                prefetched=getattr(request._request, "cache_prefetched", None), session_id=q.get("session_id"),
            ),
            user_id,
        )
        served_log.record(self.tenant, user, served)  # one Redis append; flushed to the database in batches
        return served_response(served, q["explain"])


class RerankView(TenantAPIView):
    """Order a client's candidate list (up to 500 ids) with the active model, live."""

    write_scope = Scope.READ  # scoring changes nothing; any key that can read may call it

    @extend_schema(request=s.RerankRequest, responses={200: s.ServedSerializer, 404: ErrorSerializer})
    def post(self, request):
        body = s.RerankRequest(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        user = identity.stored_user_id(self.tenant, d.get("user_id"))
        served = run_serving(
            lambda: serving.rerank(
                self.tenant, candidates=d["candidates"], user_external_id=user,
                recent_items=d.get("recent_items"), k=d.get("k"), explain=d["explain"],
                epsilon=request_epsilon(request, d.get("epsilon")), placement=d["placement"],
            ),
            d.get("user_id"),
        )
        served_log.record(self.tenant, user, served, endpoint="rerank")
        return served_response(served, d["explain"])


class RuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    mixins.DestroyModelMixin, TenantScopedViewSet,
):
    """The tenant's re-rank rules; params follow the schema documented in reranking/rules.py."""

    model = Rule
    serializer_class = s.RuleSerializer
    lookup_field = "id"
    lookup_value_regex = r"\d+"
    write_scope = Scope.ADMIN

    def safely_get_queryset(self, queryset):
        return queryset.order_by("-priority", "id")

    def perform_create(self, serializer):
        serializer.save(tenant=self.tenant)

    @extend_schema(request=s.RulePreviewRequest, responses={200: OpenApiResponse(description="before and after"), 404: ErrorSerializer})
    @action(detail=False, methods=["post"], url_path="preview")
    def preview(self, request):
        """Show a user's list (or a candidate list) before and after the saved or draft rules."""
        body = s.RulePreviewRequest(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        drafts = None
        if "rules" in d:
            drafts = []
            for index, raw in enumerate(d["rules"]):
                try:
                    params = engine.validate_rule(raw["kind"], raw["params"])
                except engine.RuleError as exc:
                    raise exceptions.ValidationError({f"rules[{index}].{exc.field}": exc.message}) from exc
                drafts.append(engine.Rule(id=f"draft-{index}", name=raw.get("name") or f"draft {index}",
                                          kind=raw["kind"], params=params, priority=raw["priority"]))
        before, after = run_serving(
            lambda: serving.preview(self.tenant, user_external_id=identity.stored_user_id(self.tenant, d.get("user_id")),
                                    candidates=d.get("candidates"), rules=drafts, k=d["k"]),
            d.get("user_id"),
        )
        return Response({"before": asdict(before), "after": asdict(after)})


class PrivacyView(TenantAPIView):
    """The tenant's differential-privacy settings and what they protect."""

    write_scope = Scope.ADMIN

    @extend_schema(responses=s.PrivacySerializer)
    def get(self, request):
        return Response(s.PrivacySerializer(PrivacySettings.for_tenant(self.tenant)).data)

    @extend_schema(request=s.PrivacySerializer, responses=s.PrivacySerializer)
    def patch(self, request):
        serializer = s.PrivacySerializer(PrivacySettings.for_tenant(self.tenant), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        # Turning pseudonymous ids on converts the stored ids in the same transaction.
        identity.save_settings(self.tenant, serializer.save)
        return Response(serializer.data)


class PrivacyLedgerView(TenantAPIView):
    """The privacy ledger: every DP release of the tenant's data (newest first) and the budget left."""

    @extend_schema(responses={200: OpenApiResponse(description="budget and releases")})
    def get(self, request):
        return Response({
            "budget": s.BudgetSerializer(privacy_budget.summary(self.tenant)).data,
            "releases": s.PrivacyReleaseSerializer(privacy_budget.ledger(self.tenant), many=True).data,
        })


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Training runs and the versions they produced; train, activate (roll back) and cancel."""

    model = ModelVersion
    serializer_class = s.ModelVersionSerializer
    lookup_field = "number"
    lookup_value_regex = r"\d+"
    write_scope = Scope.ADMIN

    def safely_get_queryset(self, queryset):
        return queryset.order_by("-number")

    @extend_schema(request=None, responses={202: s.ModelVersionSerializer, 200: s.ModelVersionSerializer, 503: ErrorSerializer})
    @action(detail=False, methods=["post"])
    def train(self, request):
        """Queue a training run; if one is in flight, return it (200) instead of starting another."""
        try:
            run, created = training.request_training(self.tenant, trigger="api")
        except training.QueueUnavailable as exc:
            return Response({"error": {"code": "queue_unavailable", "message": str(exc)}}, status=503, headers={"Retry-After": "30"})
        return Response(s.ModelVersionSerializer(run).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses=s.ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, number=None):
        """Serve this version (roll back by activating an older one)."""
        version = self.get_object()
        try:
            outcome = precompute.request_activation(version)
        except ValueError as exc:
            raise exceptions.ValidationError({"number": str(exc)}) from exc
        version.refresh_from_db()
        code = status.HTTP_200_OK if outcome == "activated" else status.HTTP_202_ACCEPTED
        return Response(s.ModelVersionSerializer(version).data, status=code)

    @extend_schema(request=None, responses=s.ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, number=None):
        version = self.get_object()
        if not training.cancel(version):
            raise exceptions.ValidationError({"number": f"v{version.number} is {version.status}; only queued or running runs can be cancelled."})
        version.refresh_from_db()
        return Response(s.ModelVersionSerializer(version).data)


class ErasureRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Audit records of erased end users, newest first (erase with POST /users/{user_id}/erase)."""

    model = ErasureRecord
    serializer_class = s.ErasureRecordSerializer
    lookup_field = "id"
    lookup_value_regex = r"\d+"
    read_scope = Scope.ADMIN  # who asked to be forgotten, and when, is for admins only

    def safely_get_queryset(self, queryset):
        return queryset.select_related("requested_by", "version").order_by("-created_at", "-id")
