"""Catalogue, end-user and interaction endpoints. Views parse, authorize, call a service, respond."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from reranking.models import EndUser, Event, Item
from reranking.services import export, identity, privacy, serving
from reranking.services.catalogue import (
    BatchInvalid, ConcurrentUpsert, ItemNotFound, patch_item, read_item_csv, soft_delete_item, upsert_items,
)
from reranking.services.csv_export import catalogue_csv, csv_download
from reranking.services.ingest import ingest_events
from reranking.services.ratelimit import CODE as RATE_LIMITED
from reranking.services.rows import RowError
from tenants.api.base import LimitedJSONParser, LimitedMultiPartParser, TenantScopedViewSet
from tenants.api.errors import error_body
from tenants.api.schema import ErrorSerializer
from tenants.models import Scope

from . import hot_path, serializers as s
from .serving_serializers import ErasureRecordSerializer, RecommendationsQuery, ServedSerializer


def batch_from(data, key: str) -> list:
    """Return the rows of a batch body: a JSON array, or an object holding one under `key`."""
    rows = data.get(key) if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise exceptions.ValidationError({key: f"Expected a JSON array of {key} (or an object with '{key}')."})
    if isinstance(data, dict) and len(data) > 1:
        unknown = sorted(name for name in data if name != key)[0]
        raise exceptions.ValidationError({key: f"Unknown field {unknown!r} beside '{key}'; send only the array."})
    if not rows:
        raise exceptions.ValidationError({key: "The batch is empty."})
    if len(rows) > settings.RECS_MAX_BATCH:
        raise exceptions.ValidationError(
            {key: f"The batch has {len(rows)} rows; at most {settings.RECS_MAX_BATCH} are accepted per request."}
        )
    return rows


def flag(params, name: str) -> bool | None:
    """Return a true/false query parameter (None when absent), refusing anything else with 400."""
    value = params.get(name)
    if value is None:
        return None
    if value not in ("true", "1", "false", "0"):
        raise exceptions.ValidationError({name: "Give true or false."})
    return value in ("true", "1")


def invalid_rows_response(errors: list[RowError], outcome: str, detail) -> Response:
    first = errors[0]
    message = f"{len(errors)} invalid rows; {outcome}. First: row {first.index}, {first.field}: {first.message}"
    return Response(error_body("invalid_rows", message, detail), status=status.HTTP_400_BAD_REQUEST)


def batch_invalid_response(exc: BatchInvalid) -> Response:
    return invalid_rows_response(exc.errors, "nothing was written", [e.as_dict() for e in exc.errors[:1000]])


def upsert_response(tenant, rows: list, *, strict_keys: bool) -> Response:
    """Upsert a batch and answer: 200 with counts, 400 naming invalid rows, or 409 on a lost race."""
    try:
        result = upsert_items(tenant, rows, strict_keys=strict_keys)
    except BatchInvalid as exc:
        return batch_invalid_response(exc)
    except ConcurrentUpsert:
        return Response(
            error_body("conflict", "Another request is creating the same items; retry the batch."),
            status=status.HTTP_409_CONFLICT,
        )
    return Response(result.as_dict())


class ItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantScopedViewSet):
    """The tenant's catalogue, addressed by the tenant's own item ids."""

    model = Item
    serializer_class = s.ItemSerializer
    parser_classes = [LimitedJSONParser, LimitedMultiPartParser]
    write_scope = Scope.INGEST

    def safely_get_queryset(self, queryset):
        params = self.request.query_params
        if self.action == "list":
            if not flag(params, "include_deleted"):
                queryset = queryset.filter(is_deleted=False)
            if params.get("category"):
                queryset = queryset.filter(category=params["category"])
            available = flag(params, "available")
            if available is not None:
                queryset = queryset.filter(available=available)
            if params.get("q"):
                queryset = queryset.filter(title__icontains=params["q"])
            return queryset.order_by("id")
        return queryset.filter(is_deleted=False)

    @extend_schema(
        parameters=[
            OpenApiParameter("category", str),
            OpenApiParameter("available", bool),
            OpenApiParameter("q", str, description="Case-insensitive search in titles."),
            OpenApiParameter("include_deleted", bool),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def perform_destroy(self, instance: Item) -> None:
        soft_delete_item(instance)

    @extend_schema(request=s.ItemPatchSerializer, responses={200: s.ItemSerializer, 404: ErrorSerializer})
    def partial_update(self, request, external_id=None):
        """Change only the fields sent; `null` clears a field (to its default); the title cannot be cleared."""
        try:
            item = patch_item(self.tenant, external_id, request.data)
        except ItemNotFound:
            raise exceptions.NotFound("No item with this id in this tenant.") from None
        except BatchInvalid as exc:
            raise exceptions.ValidationError({e.field: e.message for e in exc.errors}) from None
        except ConcurrentUpsert:
            return Response(error_body("conflict", "Another request is changing this item; retry."), status=409)
        return Response(s.ItemSerializer(item).data)

    @extend_schema(parameters=[RecommendationsQuery], responses={200: ServedSerializer, 404: ErrorSerializer})
    @action(detail=True, methods=["get"])
    def similar(self, request, external_id=None):
        """Items like this one (`?context=` adds more: a cart), from behaviour blended with text, so new
        items work too; the tenant's rules (for `placement`), request filters and privacy settings apply."""
        q, attributes = hot_path.recommendations_query(request)
        try:
            served = serving.similar(
                self.tenant, [external_id, *(hot_path.split_ids(q.get("context")) or [])], k=q["k"],
                filters=hot_path.filters_of(q, attributes), explain=q["explain"], epsilon=q.get("epsilon"),
                placement=q["placement"],
            )
        except serving.UnknownItem:
            raise exceptions.NotFound("No item with this id in this tenant.") from None
        except serving.ServingError as exc:
            raise exceptions.ValidationError({exc.field: exc.message}) from exc
        return Response(hot_path.body_of(served, q["explain"]))

    @extend_schema(
        request=s.ItemBatchSerializer(many=True, allow_empty=False, max_length=settings.RECS_MAX_BATCH),
        responses={200: s.UpsertResultSerializer, 409: ErrorSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk", parser_classes=[LimitedJSONParser])
    def bulk(self, request):
        """Create or update up to 10,000 items by item_id; an invalid row refuses the whole batch."""
        rows = batch_from(request.data, "items")
        return upsert_response(self.tenant, rows, strict_keys=True)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        """The live catalogue as CSV in the upload format; cells a spreadsheet would run as formulas are defused."""
        return csv_download(catalogue_csv(Item.objects.for_tenant(self.tenant)), f"{self.tenant.slug}-items.csv")

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
        responses={200: s.UpsertResultSerializer, 409: ErrorSerializer},
    )
    @action(detail=False, methods=["post"], url_path="upload")
    def upload(self, request):
        """Upsert items from a CSV file (`file` field): item_id,title[,description,category,tags,price,available,...]."""
        upload = request.FILES.get("file")
        if upload is None:
            raise exceptions.ValidationError({"file": "Attach the CSV as a multipart field named 'file'."})
        try:
            rows = read_item_csv(upload.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ValidationError({"file": str(exc)}) from exc
        rows = batch_from(rows, "items")
        return upsert_response(self.tenant, rows, strict_keys=False)


class EventCursor(CursorPagination):
    """Newest first, 100 a page. An undecodable cursor is a 404 (DRF's answer); a decodable one whose
    position is not a timestamp (hand-made or tampered) is a 400 naming `cursor`."""

    ordering = "-timestamp"
    page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        # A well-formed cursor can still carry a position that is not a timestamp (hand-made or tampered).
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError) as exc:
            raise exceptions.ValidationError({self.cursor_query_param: "Invalid cursor."}) from exc


class EventViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """Interactions: batch ingest and a cursor-paginated listing."""

    model = Event
    serializer_class = s.EventSerializer
    pagination_class = EventCursor
    write_scope = Scope.INGEST

    def safely_get_queryset(self, queryset):
        user = self.request.query_params.get("user_id")
        if user:
            queryset = queryset.filter(user__external_id=identity.stored_user_id(self.tenant, user))
        return queryset.select_related("user", "item")

    def get_serializer_context(self) -> dict:
        # Filtered by one user: show the id the client sent (under pseudonymous ids, not the hash).
        return {**super().get_serializer_context(), "user_id": self.request.query_params.get("user_id") or None}

    @extend_schema(parameters=[OpenApiParameter("user_id", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.EventBatchSerializer, responses=s.IngestResultSerializer,
        parameters=[OpenApiParameter("backfill", bool, description=(
            "Historical events: not counted against the per-user rate limits; each row needs a timestamp."
        ))],
    )
    def create(self, request):
        """Store up to 10,000 events. Valid rows are stored; each invalid row is reported by index.

        Each end user may send at most the tenant's per-minute and per-hour number of events (60 and 600
        by default); rows beyond are refused with code `rate_limited`, and a batch refused only for that
        answers 429. `?backfill=true` loads history instead: no rate limit, a timestamp on every row,
        the same validation and event_id deduplication.
        """
        rows = batch_from(request.data, "events")
        backfill = bool(flag(request.query_params, "backfill"))
        result = ingest_events(self.tenant, rows, rate_limit=not backfill, require_timestamp=backfill)
        if result.errors and not (result.stored or result.duplicates):
            if all(e.code == RATE_LIMITED for e in result.errors):
                message = f"{len(result.errors)} rows refused: {result.errors[0].message}"
                body = error_body("rate_limited", message, result.as_dict())
                return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": "60"})
            # Nothing in the batch was usable: a client error, though each row's reason is still listed.
            return invalid_rows_response(result.errors, "nothing was stored", result.as_dict())
        code = status.HTTP_201_CREATED if result.stored else status.HTTP_200_OK
        return Response(result.as_dict(), status=code)


class EndUserViewSet(mixins.ListModelMixin, TenantScopedViewSet):
    """End users, created on their first event.

    Under pseudonymous ids the listing shows the stored pseudonyms (the platform cannot reverse them);
    the endpoints about one user take and echo the client's own id.
    """

    model = EndUser
    serializer_class = s.EndUserSerializer
    read_scope = Scope.READ  # the export action asks for ADMIN
    write_scope = Scope.ADMIN

    def safely_get_queryset(self, queryset):
        return queryset.order_by("id")

    def end_user(self) -> EndUser:
        """Return the end user named in the URL by the client's id (through identity, like every lookup)."""
        stored = identity.stored_user_id(self.tenant, self.kwargs["external_id"])
        user = self.get_queryset().filter(external_id=stored).first()
        if user is None:
            raise exceptions.NotFound("No end user with this id in this tenant.")
        return user

    def retrieve(self, request, external_id=None):
        user = self.end_user()
        return Response(s.EndUserSerializer(user, context={"user_id": external_id}).data)

    @extend_schema(request=None, responses=ErasureRecordSerializer)
    @action(detail=True, methods=["post"])
    def erase(self, request, external_id=None):
        """Erase the user (right to be forgotten): events, rankings and cache now; a clean retrain is queued.

        Every existing model version is flagged `contains_erased_data` and can no longer be activated.
        The audit record returned holds no user id.
        """
        user = self.end_user()
        record = privacy.erase_user(self.tenant, user, privacy.Requester(via="api", api_key_name=request.auth.name))
        return Response(ErasureRecordSerializer(record).data, status=status.HTTP_200_OK)

    @extend_schema(responses=s.EventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, external_id=None):
        """The user's events, newest first."""
        user = self.end_user()
        events = Event.objects.for_tenant(self.tenant).filter(user=user).select_related("user", "item")
        paginator = EventCursor()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(s.EventSerializer(page, many=True, context={"user_id": external_id}).data)

    @extend_schema(responses={
        200: s.UserExportSerializer,
        404: OpenApiResponse(description="No end user with this id in this tenant (never seen, or erased)."),
    })
    @action(detail=True, methods=["get"], read_scope=Scope.ADMIN)
    def export(self, request, external_id=None):
        """Everything held about the user, for an access request: profile, interactions, lists served,
        precomputed rankings and erasure status. Needs the admin scope; 404 for unknown (or erased) users."""
        user = self.end_user()
        # Personal data: no browser or proxy cache may keep a copy.
        return Response(export.export_user(self.tenant, user, external_id), headers={"Cache-Control": "no-store"})
