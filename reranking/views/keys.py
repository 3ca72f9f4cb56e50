"""API key pages: list, create (the secret shown once), revoke."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_variables
from django.views.generic import ListView

from tenants.forms import ApiKeyForm
from tenants.models import ApiKey, RawKey
from tenants.web import TenantViewMixin


NEW_KEY_SESSION_KEY = "ui:new-api-key"


class ApiKeyListView(TenantViewMixin, ListView):
    """List keys; POST creates one, then redirects (POST-redirect-GET: a reload cannot create a second key).

    The secret travels to that one GET in the session and is removed from it as it is shown: never again.
    """

    model = ApiKey
    template_name = "ui/keys.html"
    section = "keys"

    def safely_get_queryset(self, queryset):
        return queryset.select_related("created_by").order_by("revoked_at", "-created_at")

    @method_decorator(sensitive_variables("secret", "created"))
    def get(self, request, *args, **kwargs):
        self.form = ApiKeyForm()
        created = request.session.pop(NEW_KEY_SESSION_KEY, None)
        if not created or created.get("tenant") != self.tenant.pk:
            return super().get(request, *args, **kwargs)
        self.object_list = self.get_queryset()
        new_key = self.scoped(ApiKey).filter(pk=created["key"]).first()
        response = self.render_to_response(self.get_context_data(new_key=new_key, secret=RawKey(created["secret"])))  # RawKey: repr masked
        response["Cache-Control"] = "no-store"  # the secret must not sit in a cache
        return response

    @method_decorator(sensitive_variables("secret", "new_key"))
    def post(self, request, *args, **kwargs):
        self.form = ApiKeyForm(request.POST)
        if not self.form.is_valid():
            self.object_list = self.get_queryset()
            return self.render_to_response(self.get_context_data())
        data = self.form.cleaned_data
        new_key, secret = ApiKey.issue(self.tenant, data["name"], data["scopes"], created_by=request.user)
        request.session[NEW_KEY_SESSION_KEY] = {"tenant": self.tenant.pk, "key": new_key.pk, "secret": secret}
        return redirect("ui:keys", tenant_slug=self.tenant.slug)

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(form=self.form, **kwargs)


class ApiKeyRevokeView(TenantViewMixin, View):
    def post(self, request, tenant_slug, pk):
        key = self.get_scoped_or_404(ApiKey, pk=pk)
        key.revoke()
        messages.success(request, f"Revoked {key.name!r} ({key.masked}).")
        return redirect("ui:keys", tenant_slug=self.tenant.slug)
