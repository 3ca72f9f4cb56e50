"""Entry, tenant picker and the dashboard."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.generic import TemplateView

from reranking.models import Event, Item, ModelVersion, Rule
from reranking.services import analytics
from tenants.models import Membership
from tenants.web import TenantViewMixin

from .charts import bar_chart


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
            popular=self.popular_rows(counts.popular),
            latest_event=self.latest_event() if not any(n for _, n in counts.per_day) else None,
            counts=counts,
            attributed=counts.attributed,
            active=versions.filter(is_active=True).first(),
            last_run=versions.order_by("-number").first(),
            n_rules=self.scoped(Rule).filter(enabled=True).count(),
            **kwargs,
        )

    def popular_rows(self, popular: list[tuple[str, int]]) -> list[dict]:
        """The popular items with their titles (one query), most events first."""
        titles = dict(self.scoped(Item).filter(external_id__in=[item for item, _ in popular])
                      .values_list("external_id", "title"))
        return [{"item_id": item, "title": titles.get(item, ""), "n": n} for item, n in popular]

    def latest_event(self):
        """When the window shows nothing: when the latest event was (say, an imported history)."""
        return self.scoped(Event).order_by("-timestamp").values_list("timestamp", flat=True).first()
