"""Root URLs: the REST API under /api/v1/, its schema and docs, health, and Django admin."""
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from reranking.api.serving_views import (
    ErasureRecordViewSet, ModelVersionViewSet, PrivacyLedgerView, PrivacyView, RecommendationsView, RerankView,
    RuleViewSet,
)
from reranking.api.experiments_views import ExperimentViewSet, OnlineMetricsView, OnlineSettingsView
from reranking.api.views import EndUserViewSet, EventViewSet, ItemViewSet
from reranking.api.webhooks_views import WebhookViewSet
from tenants.api.views import ApiKeyViewSet, TenantView
from tenants.health import health, live

router = DefaultRouter()
router.include_root_view = False
# No ".json" twins of every route: JSON is the only format, and actions with named URL kwargs got a 500 there.
router.include_format_suffixes = False
router.trailing_slash = "/?"  # clients may omit the slash; a POST must not be redirected
router.register("items", ItemViewSet, basename="item")
router.register("events", EventViewSet, basename="event")
router.register("users", EndUserViewSet, basename="enduser")
router.register("keys", ApiKeyViewSet, basename="apikey")
router.register("rules", RuleViewSet, basename="rule")
router.register("models", ModelVersionViewSet, basename="modelversion")
router.register("erasures", ErasureRecordViewSet, basename="erasure")
router.register("experiments", ExperimentViewSet, basename="experiment")
router.register("webhooks", WebhookViewSet, basename="webhook")

handler404 = "tenants.api.errors.not_found"

urlpatterns = [
    re_path(r"^api/v1/tenant/?$", TenantView.as_view(), name="tenant"),
    re_path(r"^api/v1/users/(?P<user_id>[^/]+)/recommendations/?$", RecommendationsView.as_view(), name="recommendations"),
    re_path(r"^api/v1/recommendations/?$", RecommendationsView.as_view(), name="recommendations-anonymous"),
    re_path(r"^api/v1/rerank/?$", RerankView.as_view(), name="rerank"),
    re_path(r"^api/v1/privacy/?$", PrivacyView.as_view(), name="privacy"),
    re_path(r"^api/v1/metrics/online/?$", OnlineMetricsView.as_view(), name="online-metrics"),
    re_path(r"^api/v1/metrics/settings/?$", OnlineSettingsView.as_view(), name="online-settings"),
    re_path(r"^api/v1/privacy/ledger/?$", PrivacyLedgerView.as_view(), name="privacy-ledger"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    re_path(r"^health/?$", health, name="health"),
    re_path(r"^health/live/?$", live, name="health-live"),
    path("admin/", admin.site.urls),
    path("", include("reranking.urls_ui")),
]
