"""Catalogue pages: the item list, an item, CSV export and the two-step CSV upload."""
from __future__ import annotations

import secrets

from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from reranking.forms import UploadForm
from reranking.models import Event, Item
from reranking.services import catalogue, csv_export, identity
from tenants.web import TenantViewMixin

UPLOAD_SESSION_KEY = "ui:catalogue-upload"
CHANGES_SHOWN = 50


class ItemListView(TenantViewMixin, ListView):
    model = Item
    paginate_by = 50
    template_name = "ui/items/list.html"
    section = "items"

    def safely_get_queryset(self, queryset):
        queryset = queryset.filter(is_deleted=False).defer("description", "attributes")
        q = self.request.GET.get("q", "").strip()
        if q:
            queryset = queryset.filter(Q(external_id__icontains=q) | Q(title__icontains=q))
        category = self.request.GET.get("category", "")
        if category:
            queryset = queryset.filter(category=category)
        return queryset.order_by("external_id")

    def get_context_data(self, **kwargs) -> dict:
        categories = (self.scoped(Item).filter(is_deleted=False).exclude(category="")
                      .order_by("category").values_list("category", flat=True).distinct())
        query = self.request.GET.copy()
        query.pop("page", None)
        return super().get_context_data(
            q=self.request.GET.get("q", ""), category=self.request.GET.get("category", ""),
            categories=list(categories), query=query.urlencode(), **kwargs,
        )


class ItemExportView(TenantViewMixin, View):
    """The live catalogue as CSV (reranking/services/csv_export.py defuses spreadsheet formulas)."""

    def get(self, request, tenant_slug):
        return csv_export.csv_download(csv_export.catalogue_csv(self.scoped(Item)), f"{self.tenant.slug}-items.csv")


class ItemDetailView(TenantViewMixin, DetailView):
    model = Item
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    template_name = "ui/items/detail.html"
    section = "items"

    def get_context_data(self, **kwargs) -> dict:
        events = self.scoped(Event).filter(item=self.object)
        return super().get_context_data(
            by_type=events.values("event_type").annotate(n=Count("id")).order_by("-n"),
            recent=events.select_related("user").order_by("-timestamp")[:20],
            # Stored ids are hashes then: shown as such, with no explorer link (it takes the client's id).
            pseudonymous=identity.user_ids(self.tenant).pseudonymous,
            **kwargs,
        )


class UploadView(TenantViewMixin, FormView):
    """Step 1: parse and validate a CSV and show what would change; nothing is written."""

    form_class = UploadForm
    template_name = "ui/items/upload.html"
    manage_required = True
    section = "items"

    def form_valid(self, form):
        rows = form.cleaned_data["file"]
        clean, errors = catalogue.validate_items(rows, strict_keys=False)
        new, changed, result = catalogue.plan_upsert(self.tenant, clean)
        token = ""
        if errors:
            self.request.session.pop(UPLOAD_SESSION_KEY, None)
        else:
            token = secrets.token_urlsafe(8)
            self.request.session[UPLOAD_SESSION_KEY] = {"tenant": self.tenant.pk, "token": token, "rows": rows}
        return self.render_to_response(self.get_context_data(
            form=form, previewed=True, filename=self.request.FILES["file"].name,
            n_rows=len(rows), result=result, token=token,
            errors=[{"line": e.index + 2, "item_id": str(rows[e.index].get("item_id", "")), "field": e.field,
                     "message": e.message} for e in errors[:500]],
            n_errors=len(errors), changes=self.changes(new, changed),
        ))

    def changes(self, new: list[Item], changed: list[Item]) -> list[dict]:
        """Describe the first changes: new items, and for updated ones the fields that differ."""
        shown = [{"item_id": item.external_id, "title": item.title, "action": "new", "fields": []}
                 for item in new[:CHANGES_SHOWN]]
        updated = changed[: max(CHANGES_SHOWN - len(shown), 0)]
        before = {item.external_id: item for item in
                  self.scoped(Item).filter(external_id__in=[item.external_id for item in updated])}
        for item in updated:
            old = before[item.external_id]
            fields = [{"name": name, "old": value, "new": item.field_values()[name]}
                      for name, value in old.field_values().items() if item.field_values()[name] != value]
            if old.is_deleted:
                fields.append({"name": "is_deleted", "old": True, "new": False})
            shown.append({"item_id": item.external_id, "title": item.title, "action": "updated", "fields": fields})
        return shown


class UploadConfirmView(TenantViewMixin, View):
    """Step 2: write the previewed rows; upsert_items validates them again, all or nothing."""

    manage_required = True

    def post(self, request, tenant_slug):
        upload = request.session.get(UPLOAD_SESSION_KEY) or {}
        if upload.get("tenant") != self.tenant.pk or upload.get("token") != request.POST.get("token"):
            messages.error(request, "That preview is no longer current; upload the file again.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        try:
            result = catalogue.upsert_items(self.tenant, upload["rows"], strict_keys=False)
        except catalogue.BatchInvalid as exc:
            messages.error(request, f"Nothing was imported: {len(exc.errors)} rows are invalid now. Upload again.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        except catalogue.ConcurrentUpsert:
            messages.error(request, "Nothing was imported: another import is writing the same items. Try again.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        request.session.pop(UPLOAD_SESSION_KEY, None)
        messages.success(request, f"Imported: {result.created} new, {result.updated} updated, "
                                  f"{result.unchanged} unchanged.")
        return redirect("ui:items", tenant_slug=self.tenant.slug)
