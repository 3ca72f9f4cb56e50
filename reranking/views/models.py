"""Model version pages: the list and its chart, a version, train, status polling, activate, cancel."""
from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, ListView, TemplateView

from reranking.models import IN_FLIGHT, ModelVersion, RunStatus
from reranking.services import precompute, training
from tenants.web import TenantViewMixin

from .charts import line_chart
from .run_status import ERASED_REASON, METRIC_NAMES, duration, method_name, previous_succeeded, run_state


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
        in_flight = self.scoped(ModelVersion).filter(status__in=IN_FLIGHT).first()
        context = super().get_context_data(
            in_flight=in_flight, in_flight_state=run_state(in_flight) if in_flight else None,
            active=self.scoped(ModelVersion).filter(is_active=True).first(),
            chart=chart, **kwargs,
        )
        context["rows"] = self.rows(context["object_list"])
        return context

    def rows(self, versions) -> list[dict]:
        """Each version with its state; the outcome compares it with the succeeded version before it."""
        versions = list(versions)
        succeeded = [v for v in versions if v.status == RunStatus.SUCCEEDED]
        older = previous_succeeded(versions[-1]) if versions else None  # the one before this page
        rows = []
        for version in versions:
            before = next((v for v in succeeded if v.number < version.number), older)
            rows.append({"v": version, "state": run_state(version, before), "previous": before})
        return rows


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
        keys = sorted({key for row in methods.values() for key in row if key != "name"})
        names = [METRIC_NAMES.get(key, key) for key in keys]
        rows = [{"name": name, "label": method_name(name), "values": [row.get(key) for key in keys]}
                for name, row in sorted(methods.items(), key=lambda p: p[0] != "reranker")]
        previous = previous_succeeded(self.object)
        return super().get_context_data(metric_names=names, metric_rows=rows, state=run_state(self.object, previous),
                                        previous=previous, timings=timing_rows(self.object.timings), privacy_cost=training.privacy_cost(self.object), **kwargs)


def timing_rows(timings: dict) -> list[dict]:
    """Return the phase timings as readable durations (numbers that are not seconds are shown as they are)."""
    rows = []
    for name, value in (timings or {}).items():
        seconds = name != "precompute_users" and isinstance(value, (int, float))
        rows.append({"name": name.replace("_", " "), "text": duration(value) if seconds else value})
    return rows


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
        state = run_state(run, previous_succeeded(run) if run.is_finished else None)
        return JsonResponse({**state.as_json(), "error": run.error.splitlines()[0] if run.error else "",
                             "activation_note": run.activation_note})


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
        if version.contains_erased_data:  # refused here in words; the service's message names the field
            messages.error(request, f"v{version.number} cannot be activated: {ERASED_REASON}.")
            return redirect("ui:models", tenant_slug=self.tenant.slug)
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
        if training.cancel(run, by=request.user):
            run.refresh_from_db()
            messages.success(request, f"{run.activation_note} A running worker stops within seconds; "
                                      "you can train again now.")
        else:
            messages.info(request, f"v{run.number} had already finished.")
        return redirect("ui:models", tenant_slug=self.tenant.slug)


class ModelCompareView(TenantViewMixin, TemplateView):
    """Two versions side by side: each method's metrics, the data each saw, and the settings that differ."""

    template_name = "ui/models/compare.html"
    section = "models"

    def get_context_data(self, **kwargs) -> dict:
        a = self.get_scoped_or_404(ModelVersion, number=kwargs.pop("a"))
        b = self.get_scoped_or_404(ModelVersion, number=kwargs.pop("b"))
        return super().get_context_data(a=a, b=b, comparison=compare_versions(a, b),
                                        numbers=self.scoped(ModelVersion).values_list("number", flat=True), **kwargs)

    def get(self, request, *args, **kwargs):
        # The picker form sends ?a=&b=; redirect to the canonical URL.
        if "a" in request.GET and "b" in request.GET:
            try:
                a, b = int(request.GET["a"]), int(request.GET["b"])
            except ValueError:
                a, b = self.kwargs["a"], self.kwargs["b"]
            return redirect("ui:model-compare", tenant_slug=self.tenant.slug, a=a, b=b)
        return super().get(request, *args, **kwargs)


def compare_versions(a: ModelVersion, b: ModelVersion) -> dict:
    """Return per-metric rows (method, metric, a, b, change) and what changed in data and settings."""
    ma, mb = method_metrics(a), method_metrics(b)
    rows = []
    for method in sorted(set(ma) | set(mb), key=lambda name: (name != "reranker", name)):
        for key in sorted({k for row in (ma.get(method, {}), mb.get(method, {})) for k in row if k != "name"}):
            x, y = ma.get(method, {}).get(key), mb.get(method, {}).get(key)
            change = (y - x) / x * 100 if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x else None
            rows.append({"method": method_name(method), "metric": METRIC_NAMES.get(key, key), "a": x, "b": y,
                         "change": change, "headline": method == "reranker" and key == "ndcg@10"})
    data = [{"name": label, "a": getattr(a, field), "b": getattr(b, field),
             "change": getattr(b, field) - getattr(a, field)}
            for label, field in (("Events", "n_events"), ("End users", "n_users"), ("Items", "n_items"))]
    config_a, config_b = a.config or {}, b.config or {}
    settings = [{"name": key, "a": config_a.get(key), "b": config_b.get(key)}
                for key in sorted(set(config_a) | set(config_b)) if config_a.get(key) != config_b.get(key)]
    return {"metrics": rows, "data": data, "settings": settings}
