"""Closing-the-loop endpoints: online metrics, the attribution settings, and A/B experiments (admin scope)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from reranking.models import Experiment, OnlineSettings
from reranking.services import experiments, online_metrics, served_log
from tenants.api.base import TenantAPIView, TenantScopedViewSet
from tenants.api.schema import ErrorSerializer
from tenants.models import Scope


class MetricsQuery(serializers.Serializer):
    since = serializers.DateField(required=False, help_text="First day (default: 29 days before until).")
    until = serializers.DateField(required=False, help_text="Last day (default: today).")
    group_by = serializers.CharField(required=False, default="day",
                                     help_text=f"Comma-separated, of {', '.join(online_metrics.GROUPS)}.")


class OnlineSettingsSerializer(serializers.ModelSerializer):
    attribution_hours = serializers.IntegerField(min_value=1, max_value=24 * 30)
    click_types = serializers.ListField(child=serializers.CharField(max_length=50), max_length=20, required=False)
    conversion_types = serializers.ListField(child=serializers.CharField(max_length=50), max_length=20, required=False)

    class Meta:
        model = OnlineSettings
        fields = ["attribution_hours", "click_types", "conversion_types"]

    def to_representation(self, instance: OnlineSettings) -> dict:
        return {"attribution_hours": instance.attribution_hours, "click_types": instance.clicks,
                "conversion_types": instance.conversions}


class ArmInput(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=64)
    kind = serializers.CharField(help_text="version, reranker or popular")
    version = serializers.IntegerField(required=False, help_text="The version number, for kind=version.")
    share = serializers.IntegerField(help_text="Percent of the experiment's users; arms sum to 100.")


class ExperimentInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    holdout_percent = serializers.IntegerField(required=False, default=0, min_value=0, max_value=experiments.MAX_HOLDOUT)
    arms = ArmInput(many=True)


class PromoteInput(serializers.Serializer):
    arm = serializers.CharField(max_length=64, help_text="The name of the arm to promote.")


class ExperimentSerializer(serializers.ModelSerializer):
    arms = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields = ["id", "name", "status", "holdout_percent", "started_at", "stopped_at", "winner", "note", "arms"]
        read_only_fields = fields

    def get_arms(self, experiment: Experiment) -> list[dict]:
        return [{"name": a.name, "kind": a.kind, "version": a.version_number, "share": a.share}
                for a in experiment.arms.all()]


def refused(exc: experiments.ExperimentError) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.field: exc.message})


class OnlineMetricsView(TenantAPIView):
    """What served lists earned: impressions, users, clicks, conversions, CTR and conversion rate (95% CI)."""

    @extend_schema(parameters=[MetricsQuery], responses={200: OpenApiResponse(description="rows, total, versions")})
    def get(self, request):
        # A plain dict, so an empty `until=` is a bad date (400), not a left-out field.
        query = MetricsQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        group_by = tuple(part.strip() for part in q["group_by"].split(",") if part.strip())
        served_log.flush(max_batches=10)  # lists served up to a moment ago (bounded: the beat keeps it short)
        try:
            body = online_metrics.report(self.tenant, q.get("since"), q.get("until"), group_by)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            raise exceptions.ValidationError({field: message}) from exc
        return Response(body)


class OnlineSettingsView(TenantAPIView):
    """How events are attributed to served lists: the window and which event types are clicks and conversions."""

    write_scope = Scope.ADMIN

    @extend_schema(responses=OnlineSettingsSerializer)
    def get(self, request):
        return Response(OnlineSettingsSerializer(OnlineSettings.for_tenant(self.tenant)).data)

    @extend_schema(request=OnlineSettingsSerializer, responses=OnlineSettingsSerializer)
    def patch(self, request):
        serializer = OnlineSettingsSerializer(OnlineSettings.for_tenant(self.tenant), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """A/B experiments between model versions, the active re-ranker and popular items; results per arm."""

    model = Experiment
    serializer_class = ExperimentSerializer
    lookup_field = "id"
    lookup_value_regex = r"\d+"
    read_scope = Scope.ADMIN
    write_scope = Scope.ADMIN

    def safely_get_queryset(self, queryset):
        return queryset.prefetch_related("arms").order_by("-started_at", "-id")

    @extend_schema(request=ExperimentInput, responses={201: ExperimentSerializer, 400: ErrorSerializer})
    def create(self, request):
        body = ExperimentInput(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        try:
            experiment = experiments.start(self.tenant, d["name"], [dict(a) for a in d["arms"]], d["holdout_percent"])
        except experiments.ExperimentError as exc:
            raise refused(exc) from exc
        return Response(ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=OpenApiResponse(description="The experiment and per-arm results"))
    def retrieve(self, request, id=None):
        experiment = self.get_object()
        served_log.flush(max_batches=10)
        return Response({**ExperimentSerializer(experiment).data, "results": experiments.results(experiment)})

    @extend_schema(request=None, responses=ExperimentSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, id=None):
        try:
            experiment = experiments.stop(self.get_object())
        except experiments.ExperimentError as exc:
            raise refused(exc) from exc
        return Response(ExperimentSerializer(experiment).data)

    @extend_schema(request=PromoteInput, responses={200: ExperimentSerializer, 400: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def promote(self, request, id=None):
        """Serve this arm to everyone (activate its version) and stop the experiment."""
        body = PromoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            experiment = experiments.promote(self.get_object(), body.validated_data["arm"])
        except experiments.ExperimentError as exc:
            raise refused(exc) from exc
        return Response(ExperimentSerializer(experiment).data)
