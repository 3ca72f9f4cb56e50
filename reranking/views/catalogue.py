"""Catalogue pages: the item list, an item, CSV export and the two-step CSV upload."""
from __future__ import annotations

import secrets

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from reranking.forms import ItemForm, UploadForm
from reranking.models import Event, Item
from reranking.services import catalogue, catalogue_upload, csv_export, identity
from tenants.web import TenantViewMixin

UPLOAD_SESSION_KEY = "ui:catalogue-upload"


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
    """Step 1: read and check a CSV and show what would change; nothing is written."""

    form_class = UploadForm
    template_name = "ui/items/upload.html"
    manage_required = True
    section = "items"

    def form_valid(self, form):
        upload = form.cleaned_data["file"]
        plan = catalogue_upload.plan(self.tenant, upload)
        token = secrets.token_urlsafe(8)
        self.request.session[UPLOAD_SESSION_KEY] = {
            "tenant": self.tenant.pk, "token": token, "present": sorted(upload.present),
            "rows": [upload.rows[i] for i in plan.good],
            "rejected": [[upload.lines[i], reason, *(upload.raw[i].get(c, "") for c in upload.columns)]
                         for i, reason in sorted(plan.bad.items())],
            "columns": upload.columns,
        }
        return self.render_to_response(self.get_context_data(
            form=form, previewed=True, filename=self.request.FILES["file"].name, upload=upload,
            n_rows=len(upload.rows), plan=plan, token=token, errors=plan.errors[:500], n_errors=len(plan.errors),
            n_bad=len(plan.bad), n_good=len(plan.good),
        ))


class UploadConfirmView(TenantViewMixin, View):
    """Step 2: write the previewed good rows, merged again with the items as they are now; all or nothing."""

    manage_required = True

    def post(self, request, tenant_slug):
        upload = request.session.get(UPLOAD_SESSION_KEY) or {}
        if upload.get("tenant") != self.tenant.pk or upload.get("token") != request.POST.get("token"):
            messages.error(request, "That preview is no longer current; upload the file again.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        if not upload["rows"]:
            messages.error(request, "Nothing to import: every row has an error.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        rows = catalogue_upload.rows_to_import(self.tenant, upload["rows"], set(upload["present"]))
        try:
            result = catalogue.upsert_items(self.tenant, rows, strict_keys=False)
        except catalogue.BatchInvalid as exc:
            messages.error(request, f"Nothing was imported: {len(exc.errors)} rows are invalid now. Upload again.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        except catalogue.ConcurrentUpsert:
            messages.error(request, "Nothing was imported: another import is writing the same items. Try again.")
            return redirect("ui:upload", tenant_slug=self.tenant.slug)
        upload["rows"], upload["token"] = [], ""  # the rejected rows stay downloadable
        request.session[UPLOAD_SESSION_KEY] = upload
        skipped = len(upload["rejected"])
        messages.success(request, f"Imported: {result.created} new, {result.updated} updated, {result.unchanged} "
                                  f"unchanged." + (f" {skipped} rows with errors were skipped." if skipped else ""))
        return redirect("ui:items", tenant_slug=self.tenant.slug)


class UploadRejectedView(TenantViewMixin, View):
    """The last preview's rows with errors, as CSV with their line and reason, to fix and upload again."""

    manage_required = True

    def get(self, request, tenant_slug):
        upload = request.session.get(UPLOAD_SESSION_KEY) or {}
        if upload.get("tenant") != self.tenant.pk:
            raise Http404("No upload preview in this session.")
        lines = csv_export.csv_lines([["line", "error", *upload["columns"]], *upload["rejected"]])
        return csv_export.csv_download(lines, f"{self.tenant.slug}-rejected-rows.csv")


class ItemEditView(TenantViewMixin, FormView):
    """Edit one item's fields; the same validation as the API (services/rows.py), then one upsert."""

    form_class = ItemForm
    template_name = "ui/items/edit.html"
    manage_required = True
    section = "items"

    @cached_property
    def item(self) -> Item:
        return self.get_scoped_or_404(Item, external_id=self.kwargs["external_id"], is_deleted=False)

    def get_initial(self) -> dict:
        return ItemForm.initial_for(self.item)

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(item=self.item, **kwargs)

    def form_valid(self, form):
        row = {"item_id": self.item.external_id, **form.row()}
        try:
            catalogue.upsert_items(self.tenant, [row], strict_keys=False)  # validates, then writes in one transaction
        except catalogue.BatchInvalid as exc:
            for error in exc.errors:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved {self.item.external_id}.")
        return redirect("ui:item", tenant_slug=self.tenant.slug, external_id=self.item.external_id)


class ItemDeleteView(TenantViewMixin, DetailView):
    """Confirm, then delete an item (soft: it leaves recommendations at once; events about it stay)."""

    model = Item
    slug_field = "external_id"
    slug_url_kwarg = "external_id"
    template_name = "ui/items/confirm_delete.html"
    manage_required = True
    section = "items"

    def safely_get_queryset(self, queryset):
        return queryset.filter(is_deleted=False)

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(n_events=self.scoped(Event).filter(item=self.object).count(), **kwargs)

    def post(self, request, tenant_slug, external_id):
        item = self.get_object()
        catalogue.soft_delete_item(item)
        messages.success(request, f"Deleted {item.external_id} ({item.title}): it is no longer recommended.")
        return redirect("ui:items", tenant_slug=self.tenant.slug)
