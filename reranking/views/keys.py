"""API key pages: list, create (the secret shown once), revoke."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_variables
from django.views.generic import ListView

from tenants.forms import ApiKeyForm
from tenants.models import ApiKey
from tenants.web import TenantViewMixin


class ApiKeyListView(TenantViewMixin, ListView):
    """List keys; POST creates one and shows its secret in that response only (never stored, never again)."""

    model = ApiKey
    template_name = "ui/keys.html"
    section = "keys"

    def safely_get_queryset(self, queryset):
        return queryset.select_related("created_by").order_by("revoked_at", "-created_at")

    def get(self, request, *args, **kwargs):
        self.form = ApiKeyForm()
        return super().get(request, *args, **kwargs)

    @method_decorator(sensitive_variables("secret", "new_key"))
    def post(self, request, *args, **kwargs):
        self.form = ApiKeyForm(request.POST)
        new_key = secret = None
        if self.form.is_valid():
            data = self.form.cleaned_data
            new_key, secret = ApiKey.issue(self.tenant, data["name"], data["scopes"], created_by=request.user)
            self.form = ApiKeyForm()
        self.object_list = self.get_queryset()
        response = self.render_to_response(self.get_context_data(new_key=new_key, secret=secret))
        response["Cache-Control"] = "no-store"  # the secret must not sit in a cache
        return response

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(form=self.form, **kwargs)


class ApiKeyRevokeView(TenantViewMixin, View):
    def post(self, request, tenant_slug, pk):
        key = self.get_scoped_or_404(ApiKey, pk=pk)
        key.revoke()
        messages.success(request, f"Revoked {key.name!r} ({key.masked}).")
        return redirect("ui:keys", tenant_slug=self.tenant.slug)
