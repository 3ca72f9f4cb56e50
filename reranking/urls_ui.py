"""Web UI for tenant admins (server-rendered): login, tenant picker, and each tenant's pages under /t/<slug>/."""
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import views
from .views import online as online_views

app_name = "ui"

tenant_pages = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("items/", views.ItemListView.as_view(), name="items"),
    path("items/export.csv", views.ItemExportView.as_view(), name="items-export"),
    path("edit-item/<path:external_id>", views.ItemEditView.as_view(), name="item-edit"),
    path("delete-item/<path:external_id>", views.ItemDeleteView.as_view(), name="item-delete"),
    path("items/<path:external_id>", views.ItemDetailView.as_view(), name="item"),
    path("upload/", views.UploadView.as_view(), name="upload"),
    path("upload/confirm/", views.UploadConfirmView.as_view(), name="upload-confirm"),
    path("upload/rejected.csv", views.UploadRejectedView.as_view(), name="upload-rejected"),
    path("rules/", views.RuleListView.as_view(), name="rules"),
    path("rules/new/", views.RuleCreateView.as_view(), name="rule-new"),
    path("rules/<int:pk>/", views.RuleUpdateView.as_view(), name="rule-edit"),
    path("rules/<int:pk>/delete/", views.RuleDeleteView.as_view(), name="rule-delete"),
    path("rules/<int:pk>/toggle/", views.RuleToggleView.as_view(), name="rule-toggle"),
    path("rules/<int:pk>/move/", views.RuleMoveView.as_view(), name="rule-move"),
    path("models/", views.ModelListView.as_view(), name="models"),
    path("models/train/", views.TrainView.as_view(), name="train"),
    path("models/<int:number>/", views.ModelDetailView.as_view(), name="model"),
    path("models/<int:number>/status", views.ModelStatusView.as_view(), name="model-status"),
    path("models/<int:number>/activate/", views.ModelActivateView.as_view(), name="model-activate"),
    path("models/<int:number>/cancel/", views.ModelCancelView.as_view(), name="model-cancel"),
    path("models/compare/<int:a>/<int:b>/", views.ModelCompareView.as_view(), name="model-compare"),
    path("privacy/", views.PrivacyView.as_view(), name="privacy"),
    path("keys/", views.ApiKeyListView.as_view(), name="keys"),
    path("keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="key-revoke"),
    path("webhooks/", views.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<int:pk>/ping/", views.WebhookActionView.as_view(), {"action": "ping"}, name="webhook-ping"),
    path("webhooks/<int:pk>/toggle/", views.WebhookActionView.as_view(), {"action": "toggle"}, name="webhook-toggle"),
    path("webhooks/<int:pk>/delete/", views.WebhookActionView.as_view(), {"action": "delete"}, name="webhook-delete"),
    path("explorer/", views.ExplorerView.as_view(), name="explorer"),
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/<int:pk>/role/", views.MemberRoleView.as_view(), name="member-role"),
    path("team/<int:pk>/remove/", views.MemberRemoveView.as_view(), name="member-remove"),
    path("team/invites/<int:pk>/revoke/", views.InviteRevokeView.as_view(), name="invite-revoke"),
    # Closing the loop (issue 15): reranking/views/online.py
    path("online/", online_views.OnlineResultsView.as_view(), name="online"),
    path("experiments/", online_views.ExperimentListView.as_view(), name="experiments"),
    path("experiments/<int:pk>/", online_views.ExperimentDetailView.as_view(), name="experiment"),
    path("experiments/<int:pk>/stop/", online_views.ExperimentActionView.as_view(), {"action": "stop"}, name="experiment-stop"),
    path("experiments/<int:pk>/promote/", online_views.ExperimentActionView.as_view(), {"action": "promote"},
         name="experiment-promote"),
]

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico on pages without an icon link (the staff admin).
    path("favicon.ico", RedirectView.as_view(url=static("ui/favicon.svg"), permanent=True), name="favicon"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="ui:login"), name="logout"),
    path("invite/<str:token>/", views.AcceptInviteView.as_view(), name="invite"),
    path("t/<slug:tenant_slug>/", include(tenant_pages)),
]
