"""Model version pages: the list and its chart, a version, train, status polling, activate, cancel."""
from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import DetailView, ListView

from reranking.models import IN_FLIGHT, ModelVersion
from reranking.services import precompute, training
from tenants.web import TenantViewMixin

from .charts import line_chart


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
