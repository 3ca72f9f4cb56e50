"""The explorer: one end user's history and what they are served, explained."""
from __future__ import annotations

from django.views.generic import TemplateView

from reranking.forms import ExplorerForm
from reranking.models import EndUser, Event
from reranking.services import identity, serving
from tenants.web import TenantViewMixin

from .rules import explained


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
        # The latest events' user ids first (the (tenant, timestamp) index), then ten users' ids: no join
        # over the tenant's events.
        recent = list(dict.fromkeys(self.scoped(Event).order_by("-timestamp").values_list("user_id", flat=True)[:200]))[:10]
        names = dict(self.scoped(EndUser).filter(pk__in=recent).values_list("pk", "external_id"))
        return [names[pk] for pk in recent if pk in names]
