"""The tenant admin web UI: server-rendered pages under /t/<tenant_slug>/, one module per page.

Every page goes through tenants.web.TenantViewMixin (membership -> tenant, 404 for non-members, owners
and admins for writes). Views parse, authorise, call one service, respond; charts are inline SVG whose
geometry `charts.bar_chart` and `charts.line_chart` compute, so no chart library is shipped.
"""
from .catalogue import (ItemDeleteView, ItemDetailView, ItemEditView, ItemExportView, ItemListView,
                        UploadConfirmView, UploadRejectedView, UploadView)
from .dashboard import DashboardView, home
from .explorer import ExplorerView
from .keys import ApiKeyListView, ApiKeyRevokeView
from .models import (ModelActivateView, ModelCancelView, ModelCompareView, ModelDetailView, ModelListView, ModelStatusView,
                     TrainView)
from .privacy import PrivacyView
from .webhooks import WebhookActionView, WebhookListView
from .team import AcceptInviteView, InviteRevokeView, MemberRemoveView, MemberRoleView, TeamView
from .rules import (RuleCreateView, RuleDeleteView, RuleListView, RuleMoveView, RuleToggleView,
                    RuleUpdateView)

__all__ = [
    "AcceptInviteView", "ApiKeyListView", "ApiKeyRevokeView", "InviteRevokeView", "MemberRemoveView", "MemberRoleView",
    "TeamView", "DashboardView", "ExplorerView", "ItemDeleteView", "ItemDetailView", "ItemEditView", "ItemExportView", "UploadRejectedView",
    "ItemListView", "ModelActivateView", "ModelCancelView", "ModelCompareView", "ModelDetailView", "ModelListView",
    "ModelStatusView", "PrivacyView", "RuleCreateView", "RuleDeleteView", "RuleListView", "RuleMoveView",
    "RuleToggleView", "RuleUpdateView", "TrainView", "UploadConfirmView", "UploadView", "WebhookActionView", "WebhookListView", "home",
]
