"""Entry, tenant picker and the dashboard."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.generic import TemplateView

from reranking.models import Item, ModelVersion, Rule
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
            popular=bar_chart(counts.popular),
            counts=counts,
            attributed=counts.attributed,
            active=versions.filter(is_active=True).first(),
            last_run=versions.order_by("-number").first(),
            n_rules=self.scoped(Rule).filter(enabled=True).count(),
            **kwargs,
        )
