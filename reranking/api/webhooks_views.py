"""Webhook endpoints (admin scope): register, list, change, delete, send a test event, see deliveries."""
from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from reranking.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from reranking.services import webhooks
from tenants.api.base import TenantScopedViewSet
from tenants.api.schema import ErrorSerializer
from tenants.models import Scope


class WebhookSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(source="masked_secret", read_only=True,
                                   help_text="Masked; the whole secret is returned once, when the webhook is created.")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "active", "secret", "created_at"]
        read_only_fields = fields


class CreatedWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret. Shown only this once: store it now.")


class WebhookInput(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="http(s) URL that resolves to public addresses.")
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.values), allow_empty=False,
                                   max_length=len(WebhookEvent.values), help_text="The events to receive.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "event", "event_id", "status", "attempts", "last_status_code", "last_error", "created_at",
                  "last_attempt_at", "delivered_at", "payload"]
        read_only_fields = fields


def refused(exc: webhooks.WebhookError) -> exceptions.ValidationError:
    return exceptions.ValidationError({exc.field: exc.message})


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """The tenant's webhook endpoints. Creating one returns its signing secret once."""

    model = WebhookEndpoint
    serializer_class = WebhookSerializer
    lookup_field = "id"
    lookup_value_regex = r"\d+"
    read_scope = Scope.ADMIN
    write_scope = Scope.ADMIN

    def safely_get_queryset(self, queryset):
        return queryset.order_by("-created_at", "-id")

    @extend_schema(request=WebhookInput, responses={201: CreatedWebhookSerializer, 400: ErrorSerializer})
    @method_decorator(sensitive_variables("secret"))
    def create(self, request):
        body = WebhookInput(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        try:
            endpoint, secret = webhooks.create_endpoint(self.tenant, d["url"], d["events"], d["description"])
        except webhooks.WebhookError as exc:
            raise refused(exc) from exc
        if not d["active"]:
            webhooks.update_endpoint(endpoint, active=False)
        endpoint.secret = secret
        return Response(CreatedWebhookSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookInput(partial=True), responses={200: WebhookSerializer, 400: ErrorSerializer})
    def partial_update(self, request, id=None):
        endpoint = self.get_object()
        body = WebhookInput(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            webhooks.update_endpoint(endpoint, **body.validated_data)
        except webhooks.WebhookError as exc:
            raise refused(exc) from exc
        return Response(WebhookSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, id=None):
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request, id=None):
        """Send a `ping` event to this endpoint now (queued; see its deliveries for the answer)."""
        try:
            delivery = webhooks.ping(self.get_object())
        except webhooks.WebhookError as exc:
            raise refused(exc) from exc
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, id=None):
        """This endpoint's deliveries, newest first: status, tries, the last answer's code or error."""
        endpoint = self.get_object()
        queryset = WebhookDelivery.objects.for_tenant(self.tenant).filter(endpoint=endpoint).order_by("-created_at", "-id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)
