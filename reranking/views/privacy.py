"""The privacy page: settings, erasure and access requests."""
from __future__ import annotations

import math

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.functional import cached_property
from django.views.generic import FormView

from reranking.forms import ErasureForm, ExportForm, PrivacyForm
from reranking.models import ErasureRecord, PrivacySettings
from reranking.services import export, identity, privacy, privacy_budget
from tenants.web import TenantViewMixin

ERASURES_SHOWN = 10


class PrivacyView(TenantViewMixin, FormView):
    form_class = PrivacyForm
    template_name = "ui/privacy.html"
    section = "privacy"

    @cached_property
    def settings(self) -> PrivacySettings:
        return PrivacySettings.for_tenant(self.tenant)

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "instance": self.settings, "read_only": not self.membership.can_manage}

    def get_context_data(self, **kwargs) -> dict:
        saved = PrivacySettings.objects.get(pk=self.settings.pk)  # the form may hold unsaved, invalid values
        kwargs.setdefault("erasure_form", ErasureForm(tenant=self.tenant))
        kwargs.setdefault("export_form", ExportForm(tenant=self.tenant))
        erasures = self.scoped(ErasureRecord).select_related("requested_by", "version")[:ERASURES_SHOWN]
        kwargs.update(budget=privacy_budget.summary(self.tenant), ledger=privacy_budget.ledger(self.tenant))  # _privacy_budget.html
        return super().get_context_data(settings=saved, e_epsilon=math.exp(saved.epsilon), erasures=erasures, **kwargs)

    def post(self, request, *args, **kwargs):
        """Save the settings, erase an end user or export one's data, by the form sent (all need a manager)."""
        if request.POST.get("action") == "export":
            return self.export(request)
        if request.POST.get("action") != "erase":
            return super().post(request, *args, **kwargs)
        form = ErasureForm(request.POST, tenant=self.tenant)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(erasure_form=form))
        record = privacy.erase_user(self.tenant, form.user, privacy.Requester(via="ui", user=request.user))
        # The message names no user: it is stored in the session until shown.
        messages.success(request, f"End user erased: {record.events_deleted} interactions and "
                                  f"{record.rankings_deleted} rankings deleted; a clean retrain was requested.")
        return redirect("ui:privacy", tenant_slug=self.tenant.slug)

    def export(self, request):
        """Answer an access request: the user's data as a JSON download (POST: the id stays out of URLs and logs)."""
        form = ExportForm(request.POST, tenant=self.tenant)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(export_form=form))
        data = export.export_user(self.tenant, form.user, form.cleaned_data["user_id"])
        response = JsonResponse(data, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="end-user-export.json"'
        response["Cache-Control"] = "no-store"
        return response

    def form_valid(self, form):
        # Turning pseudonymous ids on converts the stored ids in the same transaction.
        identity.save_settings(self.tenant, form.save)
        messages.success(self.request, "Privacy settings saved.")
        return redirect("ui:privacy", tenant_slug=self.tenant.slug)
