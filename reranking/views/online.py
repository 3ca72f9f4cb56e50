"""Web UI of the closing loop: online results (what served lists earned) and A/B experiments.

Pages under /t/<tenant_slug>/ like the rest of the UI (tenants.web.TenantViewMixin: members read,
owners and admins act). Views parse, call one service, and render.
"""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from reranking.models import ArmKind, Experiment, ModelVersion, RunStatus
from reranking.services import experiments, online_metrics, served_log
from tenants.web import TenantViewMixin

from .charts import line_chart

# The start form offers three arms (the API takes up to experiments.MAX_ARMS), preset to the usual test:
# the active re-ranker (control) against another version, popular items optional.
ARM_PRESETS = ("reranker", "version", "popular")


def ctr_chart(rows: list[dict]) -> dict:
    """Return the line chart geometry of CTR and conversion rate (percent) per day."""
    labels = [row["day"][5:] for row in rows]
    return line_chart(labels, {"CTR %": [row["ctr"]["percent"] for row in rows],
                               "conversion %": [row["conversion_rate"]["percent"] for row in rows]})


class OnlineResultsView(TenantViewMixin, TemplateView):
    """Last 30 days: impressions, users reached, CTR and conversion with intervals, by day and by placement."""

    template_name = "ui/online/results.html"
    section = "online"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        served_log.flush(max_batches=10)
        by_day = online_metrics.report(self.tenant, group_by=("day",))
        by_source = online_metrics.report(self.tenant, group_by=("placement", "strategy", "model_version"))
        context.update(report=by_day, chart=ctr_chart(by_day["rows"]), breakdown=by_source["rows"],
                       versions=by_day["versions"])
        return context


class ExperimentListView(TenantViewMixin, TemplateView):
    """The tenant's experiments, newest first, and the form that starts one."""

    template_name = "ui/online/experiments.html"
    section = "experiments"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        versions = (ModelVersion.objects.for_tenant(self.tenant)
                    .filter(status=RunStatus.SUCCEEDED, rankings_ready=True, contains_erased_data=False)
                    .order_by("-number"))
        context.update(
            experiments=Experiment.objects.for_tenant(self.tenant).prefetch_related("arms"),
            versions=versions, kinds=ArmKind.choices, slots=list(enumerate(ARM_PRESETS)),
            running=Experiment.objects.for_tenant(self.tenant).filter(status="running").first(),
        )
        return context

    def post(self, request, tenant_slug):
        """Start an experiment from the form's arm rows (a row without a share is left out)."""
        arms = []
        for slot in range(len(ARM_PRESETS)):
            share = request.POST.get(f"arm{slot}_share", "").strip()
            if not share:
                continue
            arm = {"kind": request.POST.get(f"arm{slot}_kind", ""), "share": int(share) if share.isdigit() else share,
                   "name": request.POST.get(f"arm{slot}_name", "").strip() or None}
            version = request.POST.get(f"arm{slot}_version", "").strip()
            if version.isdigit():
                arm["version"] = int(version)
            arms.append(arm)
        holdout = request.POST.get("holdout_percent", "0").strip() or "0"
        try:
            experiment = experiments.start(self.tenant, request.POST.get("name", ""), arms,
                                           int(holdout) if holdout.isdigit() else -1)
        except experiments.ExperimentError as exc:
            context = self.get_context_data(error=f"{exc.field}: {exc.message}", posted=request.POST)
            return render(request, self.template_name, context, status=400)
        messages.success(request, f"Experiment {experiment.name!r} started.")
        return redirect(reverse("ui:experiment", args=[self.tenant.slug, experiment.pk]))


class ExperimentDetailView(TenantViewMixin, TemplateView):
    """One experiment: per-arm impressions, CTR and conversion with intervals, difference and p-value."""

    template_name = "ui/online/experiment.html"
    section = "experiments"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        experiment = self.get_scoped_or_404(Experiment, pk=kwargs["pk"])
        served_log.flush(max_batches=10)
        context.update(experiment=experiment, results=experiments.results(experiment))
        return context


class ExperimentActionView(TenantViewMixin, View):
    """Stop an experiment, or promote one of its arms (which also stops it): one POST each."""

    def post(self, request, tenant_slug, pk, action):
        experiment = self.get_scoped_or_404(Experiment, pk=pk)
        try:
            if action == "stop":
                experiments.stop(experiment)
                messages.success(request, f"Experiment {experiment.name!r} stopped: everyone gets the usual list.")
            else:
                done = experiments.promote(experiment, request.POST.get("arm", ""))
                messages.success(request, done.note)
        except experiments.ExperimentError as exc:
            messages.error(request, exc.message)
        return redirect(reverse("ui:experiment", args=[self.tenant.slug, pk]))
