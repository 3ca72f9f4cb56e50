"""The tenant admin web UI: server-rendered pages under /t/<tenant_slug>/.

Every page goes through tenants.web.TenantViewMixin (membership -> tenant, 404 for non-members, owners
and admins for writes). Views parse, authorise, call one service, respond; charts are inline SVG whose
geometry `bar_chart` and `line_chart` compute here, so no chart library is shipped.
"""
from __future__ import annotations

import dataclasses
import math
import secrets
from datetime import datetime
from datetime import timezone as dt_timezone

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views.decorators.debug import sensitive_variables
from django.views import View
from django.views.generic import CreateView, DeleteView, DetailView, FormView, ListView, TemplateView, UpdateView

from reranking import rules as engine
from reranking.forms import ErasureForm, ExplorerForm, ExportForm, PreviewForm, PrivacyForm, RuleForm, UploadForm, examples_json, params_schema
from reranking.models import IN_FLIGHT, ErasureRecord, Event, Item, ModelVersion, PrivacySettings, Rule
from reranking.services import (
    analytics, catalogue, csv_export, export, identity, precompute, privacy, privacy_budget, serving, training,
)
from tenants.forms import ApiKeyForm
from tenants.models import ApiKey, Membership
from tenants.web import TenantViewMixin

UPLOAD_SESSION_KEY = "ui:catalogue-upload"
CHANGES_SHOWN = 50
ERASURES_SHOWN = 10


# --- charts ----------------------------------------------------------------------------------


def bar_chart(points: list[tuple[str, int]], width: int = 600, height: int = 150) -> dict:
    """Return the geometry of an SVG bar chart of (label, value) pairs."""
    top = max((value for _, value in points), default=0) or 1
    slot = width / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = round(height * value / top, 1)
        bars.append({"x": round(i * slot + 1, 1), "y": round(height - h, 1), "w": round(max(slot - 2, 1), 1), "h": h,
                     "label": label, "value": value})
    return {"width": width, "height": height, "bars": bars, "max": top, "total": sum(v for _, v in points),
            "first": points[0][0] if points else "", "last": points[-1][0] if points else ""}


def line_chart(labels: list[str], series: dict[str, list[float | None]]) -> dict:
    """Return a line chart in percent of its plot area: one polyline per series over shared x labels.

    The lines are an SVG stretched to the plot (non-scaling strokes); dots and labels are HTML placed by
    percentage, so text keeps its size and dots stay round at any width.
    """
    values = [v for line in series.values() for v in line if v is not None]
    peak = max(values, default=0.0)
    top = peak * 1.15 if peak > 0 else 1.0
    single = len(labels) == 1

    def x(i: int) -> float:
        return 50.0 if single else round(100 * i / (len(labels) - 1), 2)

    def y(value: float) -> float:
        return round(100 * (1 - value / top), 2)

    lines = []
    for n, (name, line) in enumerate(series.items()):
        points = [{"x": x(i), "y": y(v), "value": v, "label": labels[i]} for i, v in enumerate(line) if v is not None]
        lines.append({"name": name, "css": f"series-{n}", "points": points,
                      "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    ticks = [{"y": y(value), "value": value} for value in (0.0, peak / 2, peak)] if peak > 0 else [{"y": 100.0, "value": 0.0}]
    return {"lines": lines, "ticks": ticks, "xlabels": [{"x": x(i), "label": label} for i, label in enumerate(labels)]}


# --- entry, tenant picker, dashboard -----------------------------------------------------------


@login_required
def home(request):
    """Send the user to their only tenant, or let them pick one."""
    memberships = list(Membership.objects.filter(user=request.user).select_related("tenant").order_by("tenant__name"))
    if len(memberships) == 1:
        return redirect("ui:dashboard", tenant_slug=memberships[0].tenant.slug)
    return render(request, "ui/picker.html", {"memberships": memberships})


class DashboardView(TenantViewMixin, TemplateView):
    template_name = "ui/dashboard.html"
    section = "dashboard"

    def get_context_data(self, **kwargs) -> dict:
        # Exact, or released with Laplace noise under the tenant's private-analytics setting.
        counts = analytics.dashboard_counts(self.tenant)
        versions = self.scoped(ModelVersion)
        return super().get_context_data(
            n_items=self.scoped(Item).filter(is_deleted=False).count(),
            n_users=counts.n_users,
            chart=bar_chart(counts.per_day),
            popular=bar_chart(counts.popular),
            counts=counts,
            attributed=counts.attributed,
            active=versions.filter(is_active=True).first(),
            last_run=versions.order_by("-number").first(),
            n_rules=self.scoped(Rule).filter(enabled=True).count(),
            **kwargs,
        )


# --- catalogue -------------------------------------------------------------------------------


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


# --- re-rank rules ---------------------------------------------------------------------------


class PreviewMixin:
    """Run serving.preview for a PreviewForm and shape (before, after) into two comparable columns."""

    def run_preview(self, form: PreviewForm, rules: list[engine.Rule]) -> dict | None:
        data = form.cleaned_data
        try:
            before, after = serving.preview(self.tenant, user_external_id=identity.stored_user_id(self.tenant, data["user"] or None),
                                            candidates=data["candidates"] or None, rules=rules, k=10)
        except serving.UnknownUser:
            form.add_error("user", "No end user with this id in this tenant.")
            return None
        except serving.ServingError as exc:
            form.add_error(None, exc.message)
            return None
        columns = preview_columns(before, after)
        if data["candidates"]:
            known = set(self.scoped(Item).filter(external_id__in=data["candidates"], is_deleted=False)
                        .values_list("external_id", flat=True))
            columns["unknown"] = [c for c in data["candidates"] if c not in known]
        return columns

    def saved_rules(self) -> list[engine.Rule]:
        return [rule.as_engine_rule() for rule in self.scoped(Rule)]


def explained(item: dict) -> dict:
    """Return a served item with model_score, model_position and effects at the top level."""
    extra = item.get("explain") or {}
    return {**item, "model_score": item.get("model_score", extra.get("model_score")),
            "model_position": item.get("model_position", extra.get("model_position")),
            "effects": item.get("effects", extra.get("effects", []))}


def preview_columns(before, after) -> dict:
    before_items = [explained(i) for i in before.items]
    position = {i["item_id"]: i["position"] for i in before_items}
    after_items = []
    for item in map(explained, after.items):
        was = position.get(item["item_id"])
        after_items.append({**item, "was": was, "moved": (was - item["position"]) if was else None})
    return {"before": before_items, "after": after_items, "removed": after.removed,
            "not_applied": after.not_applied, "strategy": after.strategy, "version": after.version, "unknown": []}


class RuleListView(PreviewMixin, TenantViewMixin, ListView):
    model = Rule
    template_name = "ui/rules/list.html"
    section = "rules"

    def get_context_data(self, **kwargs) -> dict:
        form = PreviewForm(self.request.GET or None, prefix="p")
        preview = None
        if form.is_filled and form.is_valid():
            preview = self.run_preview(form, self.saved_rules())
        now = datetime.now(dt_timezone.utc)
        rows = [{"rule": rule, "live": rule.as_engine_rule().is_live(now), "summary": summarize(rule)}
                for rule in self.object_list]
        return super().get_context_data(rows=rows, preview_form=form, preview=preview, **kwargs)


def summarize(rule: Rule) -> str:
    """Return a rule's params as one readable line."""
    params = rule.params if isinstance(rule.params, dict) else {}
    if "when" in params and isinstance(params["when"], dict):
        text = engine.describe(params["when"])
        return f"{text}, weight {params['weight']:g}" if "weight" in params else text
    return ", ".join(f"{key} {value}" for key, value in params.items())


class RuleFormMixin(PreviewMixin):
    """Create and edit share the form, the examples beside it and the draft preview."""

    model = Rule
    form_class = RuleForm
    template_name = "ui/rules/form.html"
    manage_required = True
    section = "rules"

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "tenant": self.tenant}

    def get_context_data(self, **kwargs) -> dict:
        kwargs.setdefault("preview_form", PreviewForm(prefix="p"))
        return super().get_context_data(examples=examples_json(), schema=params_schema(), **kwargs)

    def post(self, request, *args, **kwargs):
        if "preview" not in request.POST:
            return super().post(request, *args, **kwargs)
        # Preview the unsaved draft: the tenant's saved rules with this one added or replaced.
        self.object = self.object_or_none()
        form = self.get_form()
        preview_form = PreviewForm(request.POST, prefix="p")
        preview = None
        if form.is_valid() and preview_form.is_valid():
            draft = dataclasses.replace(form.instance.as_engine_rule(), id=form.instance.pk or "draft")
            rules = [r for r in self.saved_rules() if r.id != form.instance.pk] + [draft]
            preview = self.run_preview(preview_form, rules)
        return self.render_to_response(self.get_context_data(form=form, preview_form=preview_form, preview=preview,
                                                             previewed=True))

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Saved rule {form.instance.name!r}.")
        return response

    def get_success_url(self) -> str:
        return reverse("ui:rules", kwargs={"tenant_slug": self.tenant.slug})


class RuleCreateView(RuleFormMixin, TenantViewMixin, CreateView):
    def object_or_none(self):
        return None


class RuleUpdateView(RuleFormMixin, TenantViewMixin, UpdateView):
    def object_or_none(self):
        return self.get_object()


class RuleDeleteView(TenantViewMixin, DeleteView):
    model = Rule
    template_name = "ui/rules/confirm_delete.html"
    manage_required = True
    section = "rules"

    def form_valid(self, form):
        name = self.object.name
        response = super().form_valid(form)
        messages.success(self.request, f"Deleted rule {name!r}.")
        return response

    def get_success_url(self) -> str:
        return reverse("ui:rules", kwargs={"tenant_slug": self.tenant.slug})


class RuleToggleView(TenantViewMixin, View):
    """Enable or disable a rule; enabling re-validates it, so a rule that cannot apply stays off."""

    def post(self, request, tenant_slug, pk):
        rule = self.get_scoped_or_404(Rule, pk=pk)
        rule.enabled = not rule.enabled
        try:
            rule.full_clean()
        except ValidationError as exc:
            messages.error(request, f"Rule {rule.name!r} cannot apply, so it stays disabled: {'; '.join(exc.messages)}")
            return redirect("ui:rules", tenant_slug=self.tenant.slug)
        rule.save(update_fields=["enabled", "params", "updated_at"])
        messages.success(request, f"Rule {rule.name!r} {'enabled' if rule.enabled else 'disabled'}.")
        return redirect("ui:rules", tenant_slug=self.tenant.slug)


class RuleMoveView(TenantViewMixin, View):
    """Move a rule one place up or down the priority order (higher priority applies first)."""

    def post(self, request, tenant_slug, pk):
        rule = self.get_scoped_or_404(Rule, pk=pk)
        with transaction.atomic():
            ordered = list(self.scoped(Rule).select_for_update().order_by("-priority", "id"))
            index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
            other = index - 1 if request.POST.get("direction") == "up" else index + 1
            if 0 <= other < len(ordered):
                swap_priorities(ordered, index, other)
        return redirect("ui:rules", tenant_slug=self.tenant.slug)


def swap_priorities(ordered: list[Rule], i: int, j: int) -> None:
    """Swap two neighbours' places; equal priorities are first spread out (10 apart) to make room."""
    before = {rule.pk: rule.priority for rule in ordered}
    if ordered[i].priority == ordered[j].priority:
        for n, rule in enumerate(ordered):
            rule.priority = (len(ordered) - n) * 10
    ordered[i].priority, ordered[j].priority = ordered[j].priority, ordered[i].priority
    for rule in ordered:
        if rule.priority != before[rule.pk]:
            rule.save(update_fields=["priority", "updated_at"])  # save, not bulk_update: serving's cache listens


# --- models ----------------------------------------------------------------------------------


class ModelListView(TenantViewMixin, ListView):
    model = ModelVersion
    template_name = "ui/models/list.html"
    section = "models"
    paginate_by = 25

    def get_context_data(self, **kwargs) -> dict:
        history = list(self.scoped(ModelVersion).filter(status="succeeded").order_by("-number")[:30])[::-1]
        series: dict[str, list[float | None]] = {"re-ranker": [], "best baseline": []}
        for version in history:
            methods = method_metrics(version)
            series["re-ranker"].append(methods.get("reranker", {}).get("ndcg@10"))
            baselines = [m["ndcg@10"] for name, m in methods.items()
                         if name != "reranker" and m.get("ndcg@10") is not None]
            series["best baseline"].append(max(baselines) if baselines else None)
        chart = line_chart([f"v{v.number}" for v in history], series) if history else None
        return super().get_context_data(
            in_flight=self.scoped(ModelVersion).filter(status__in=IN_FLIGHT).first(),
            active=self.scoped(ModelVersion).filter(is_active=True).first(),
            chart=chart, **kwargs,
        )


def method_metrics(version: ModelVersion) -> dict[str, dict]:
    """Return {method: metrics} from a version's test metrics, else its validation metrics."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    methods = {row["name"]: row for row in metrics.get("methods", []) if isinstance(row, dict) and "name" in row}
    if methods:
        return methods
    validation = metrics.get("validation") or {}
    return {name: row for name, row in validation.items() if isinstance(row, dict)}


class ModelDetailView(TenantViewMixin, DetailView):
    model = ModelVersion
    slug_field = "number"
    slug_url_kwarg = "number"
    template_name = "ui/models/detail.html"
    section = "models"

    def get_context_data(self, **kwargs) -> dict:
        methods = method_metrics(self.object)
        names = sorted({key for row in methods.values() for key in row if key != "name"})
        rows = [{"name": name, "values": [row.get(key) for key in names]}
                for name, row in sorted(methods.items(), key=lambda p: p[0] != "reranker")]
        return super().get_context_data(metric_names=names, metric_rows=rows,
                                        privacy_cost=training.privacy_cost(self.object), **kwargs)


class TrainView(TenantViewMixin, View):
    def post(self, request, tenant_slug):
        try:
            run, created = training.request_training(self.tenant, trigger="ui")
        except training.QueueUnavailable as exc:
            messages.error(request, str(exc))
        else:
            if created:
                messages.success(request, f"Training v{run.number} queued.")
            else:
                messages.info(request, f"v{run.number} is already {run.status}; one training runs at a time.")
        return redirect("ui:models", tenant_slug=self.tenant.slug)


class ModelStatusView(TenantViewMixin, View):
    """The JSON the models page polls while a run is in flight."""

    def get(self, request, tenant_slug, number):
        run = self.get_scoped_or_404(ModelVersion, number=number)
        return JsonResponse({
            "number": run.number, "status": run.status, "phase": run.phase, "progress": round(run.progress, 1),
            "finished": run.is_finished, "error": run.error.splitlines()[0] if run.error else "",
            "is_active": run.is_active, "activation_note": run.activation_note,
        })


class ModelActivateView(TenantViewMixin, DetailView):
    """Confirm, then activate a version (a rollback when it is older than the active one)."""

    model = ModelVersion
    slug_field = "number"
    slug_url_kwarg = "number"
    template_name = "ui/models/confirm_activate.html"
    manage_required = True
    section = "models"

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(active=self.scoped(ModelVersion).filter(is_active=True).first(), **kwargs)

    def post(self, request, tenant_slug, number):
        version = self.get_object()
        try:
            outcome = precompute.request_activation(version)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            if outcome == "activated":
                messages.success(request, f"v{version.number} is now active.")
            else:
                messages.info(request, f"v{version.number}'s rankings are being recomputed; "
                                       "it becomes active when they are ready.")
        return redirect("ui:models", tenant_slug=self.tenant.slug)


class ModelCancelView(TenantViewMixin, View):
    def post(self, request, tenant_slug, number):
        run = self.get_scoped_or_404(ModelVersion, number=number)
        if training.cancel(run):
            messages.success(request, f"Cancelled v{run.number}.")
        else:
            messages.info(request, f"v{run.number} had already finished.")
        return redirect("ui:models", tenant_slug=self.tenant.slug)


# --- privacy, keys, explorer -----------------------------------------------------------------


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


class ExplorerView(TenantViewMixin, TemplateView):
    template_name = "ui/explorer.html"
    section = "explorer"

    def get_context_data(self, **kwargs) -> dict:
        form = ExplorerForm(self.request.GET or None)
        history = served = None
        if form.is_valid():
            user = identity.find_user(self.tenant, form.cleaned_data["user"])
            if user is None:
                form.add_error("user", "No end user with this id in this tenant.")
            else:
                history = self.scoped(Event).filter(user=user).select_related("item").order_by("-timestamp")[:20]
                served = self.recommend(form, user.external_id)
        return super().get_context_data(form=form, history=history, served=served,
                                        suggestions=self.recent_users(), **kwargs)

    def recommend(self, form: ExplorerForm, user_id: str) -> dict | None:
        try:
            served = serving.recommend(self.tenant, user_id, k=10, explain=True)
        except serving.UnknownUser:
            form.add_error("user", "No end user with this id in this tenant.")
            return None
        except serving.ServingError as exc:
            form.add_error(None, exc.message)
            return None
        return {"items": [explained(item) for item in served.items], "strategy": served.strategy,
                "version": served.version, "privacy": served.privacy, "removed": served.removed,
                "recommendation_id": served.recommendation_id}

    def recent_users(self) -> list[str]:
        """Return up to ten recently active users, to pick from (none under pseudonymous ids: only hashes are known)."""
        if identity.user_ids(self.tenant).pseudonymous:
            return []
        recent = self.scoped(Event).order_by("-timestamp").values_list("user__external_id", flat=True)[:200]
        return list(dict.fromkeys(recent))[:10]
