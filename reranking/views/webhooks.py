"""Webhook page: the tenant's endpoints, register one (its secret shown once), test, delete; recent deliveries."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_variables
from django.views.generic import ListView

from reranking.forms import WebhookForm
from reranking.models import WebhookDelivery, WebhookEndpoint
from reranking.services import webhooks
from tenants.models import RawKey
from tenants.web import TenantViewMixin

NEW_SECRET_SESSION_KEY = "ui:new-webhook-secret"
DELIVERIES_SHOWN = 20


class WebhookListView(TenantViewMixin, ListView):
    """List endpoints and recent deliveries; POST registers one, then redirects (the secret shown once, as for keys)."""

    model = WebhookEndpoint
    template_name = "ui/webhooks.html"
    section = "webhooks"

    def safely_get_queryset(self, queryset):
        return queryset.order_by("-created_at", "-id")

    @method_decorator(sensitive_variables("secret", "created"))
    def get(self, request, *args, **kwargs):
        self.form = WebhookForm()
        created = request.session.pop(NEW_SECRET_SESSION_KEY, None)
        if not created or created.get("tenant") != self.tenant.pk:
            return super().get(request, *args, **kwargs)
        self.object_list = self.get_queryset()
        new = self.scoped(WebhookEndpoint).filter(pk=created["webhook"]).first()
        response = self.render_to_response(self.get_context_data(new_webhook=new, secret=RawKey(created["secret"])))
        response["Cache-Control"] = "no-store"
        return response

    @method_decorator(sensitive_variables("secret"))
    def post(self, request, *args, **kwargs):
        self.form = WebhookForm(request.POST)
        if not self.form.is_valid():
            self.object_list = self.get_queryset()
            return self.render_to_response(self.get_context_data())
        d = self.form.cleaned_data
        try:
            endpoint, secret = webhooks.create_endpoint(self.tenant, d["url"], d["events"], d["description"])
        except webhooks.WebhookError as exc:
            self.form.add_error(exc.field if exc.field in self.form.fields else None, exc.message)
            self.object_list = self.get_queryset()
            return self.render_to_response(self.get_context_data())
        request.session[NEW_SECRET_SESSION_KEY] = {"tenant": self.tenant.pk, "webhook": endpoint.pk, "secret": secret}
        return redirect("ui:webhooks", tenant_slug=self.tenant.slug)

    def get_context_data(self, **kwargs) -> dict:
        deliveries = self.scoped(WebhookDelivery).select_related("endpoint").order_by("-created_at", "-id")[:DELIVERIES_SHOWN]
        return super().get_context_data(form=self.form, deliveries=deliveries, **kwargs)


class WebhookActionView(TenantViewMixin, View):
    """POST: send a test event (`ping`), pause or resume, or delete an endpoint."""

    def post(self, request, tenant_slug, pk, action):
        endpoint = self.get_scoped_or_404(WebhookEndpoint, pk=pk)
        if action == "ping":
            webhooks.ping(endpoint)
            messages.success(request, f"Test event queued for {endpoint.url}; its delivery shows below.")
        elif action == "toggle":
            webhooks.update_endpoint(endpoint, active=not endpoint.active)
            messages.success(request, f"{endpoint.url} {'resumed' if endpoint.active else 'paused'}.")
        else:
            endpoint.delete()
            messages.success(request, f"Deleted the webhook to {endpoint.url}.")
        return redirect("ui:webhooks", tenant_slug=self.tenant.slug)
