"""Staff views of catalogue, interactions, models, rules and privacy: read-mostly, and cheap on tables of
millions of rows (no unbounded COUNT, no SELECT DISTINCT for filter choices, indexed default orderings)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.functional import cached_property
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from reranking.services import precompute, training
from tenants.admin import TenantAdmin
from tenants.models import DEFAULT_EVENT_TYPES

from .models import EndUser, Event, Item, ModelVersion, PrecomputeShard, PrivacySettings, Rule, TrainingPolicy
from .models.erasure import ErasureRecord

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Count at most COUNT_CAP + 1 rows, so a changelist of millions never waits on COUNT(*).

    The admin then pages through the first COUNT_CAP rows; narrow the list with filters or search to
    reach older ones.
    """

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()


class EventTypeFilter(admin.SimpleListFilter):
    """Event types from a fixed list: the default filter would SELECT DISTINCT over every event."""

    title = "event type"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(name, name) for name in DEFAULT_EVENT_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


def retrain_tenants(model_admin: admin.ModelAdmin, request, tenants) -> None:
    """Queue a training run per tenant; say which were queued and which already had one in flight."""
    for tenant in tenants:
        try:
            run, created = training.request_training(tenant, trigger="admin")
        except training.QueueUnavailable as exc:
            model_admin.message_user(request, f"{tenant}: {exc}", messages.ERROR)
            continue
        if created:
            model_admin.message_user(request, f"{tenant}: v{run.number} queued.", messages.SUCCESS)
        else:
            model_admin.message_user(request, f"{tenant}: nothing queued, v{run.number} is already {run.status} "
                                              "(one run at a time).", messages.WARNING)


@admin.action(description="Retrain the selected tenants' models")
def retrain(model_admin: admin.ModelAdmin, request, queryset) -> None:
    retrain_tenants(model_admin, request, queryset)


TenantAdmin.actions = [*TenantAdmin.actions, retrain]  # the tenants' admin gains training from this app


class BigTableAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100


@admin.register(Item)
class ItemAdmin(BigTableAdmin):
    list_display = ["external_id", "title", "tenant", "category", "price", "available", "is_deleted", "updated_at"]
    list_filter = ["available", "is_deleted", "tenant"]
    search_fields = ["=external_id", "title"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "external_id", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # items arrive through the API, CSV upload or import commands, which validate rows


@admin.register(EndUser)
class EndUserAdmin(BigTableAdmin):
    list_display = ["external_id", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["=external_id"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "external_id", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Event)
class EventAdmin(BigTableAdmin):
    list_display = ["timestamp", "tenant", "user", "item", "event_type", "value"]
    list_filter = [EventTypeFilter, "tenant"]
    search_fields = ["=user__external_id", "=item__external_id", "=event_id"]
    list_select_related = ["tenant", "user", "item"]
    raw_id_fields = ["user", "item"]
    readonly_fields = [f.name for f in Event._meta.fields]
    ordering = ["-id"]  # the primary key index; ordering by timestamp across tenants would sort millions

    def has_add_permission(self, request) -> bool:
        return False


class ShardInline(admin.TabularInline):
    model = PrecomputeShard
    extra = 0
    fields = ["index", "first_user_id", "last_user_id", "done", "n_users", "worker", "seconds", "finished_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "phase", "progress", "is_active", "ndcg", "dp",
                    "trigger", "created_at", "finished_at"]
    list_filter = ["status", "is_active", "trigger", "tenant"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields if f.name != "activation_note"]
    inlines = [ShardInline]
    actions = ["retrain", "activate", "cancel"]

    def has_add_permission(self, request) -> bool:
        return False  # a version is a training run: use the retrain action

    # --- deleting: never the active version (serving would silently fall back to popular) -----------

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (type(self).delete_inactive, name, description)
        return actions

    def delete_inactive(self, request, queryset):
        """Django's bulk delete, refused (nothing deleted) when the selection holds an active version."""
        active = [str(v) for v in queryset.filter(is_active=True).select_related("tenant")]
        if active:
            self.message_user(request, f"Nothing was deleted: {', '.join(active)} serves recommendations now. "
                                       "Activate another version first.", messages.ERROR)
            return None
        return delete_selected(self, request, queryset)

    def delete_view(self, request, object_id, extra_context=None):
        version = self.get_object(request, object_id)
        if version is not None and version.is_active:
            self.message_user(request, f"{version} serves recommendations now and cannot be deleted. "
                                       "Activate another version first.", messages.ERROR)
            return redirect(reverse("admin:reranking_modelversion_change", args=[version.pk]))
        return super().delete_view(request, object_id, extra_context)

    @admin.display(description="val NDCG@10")
    def ndcg(self, obj: ModelVersion) -> str:
        value = obj.validation_ndcg
        return "–" if value is None else f"{value:.4f}"

    @admin.display(description="DP ε (δ)")
    def dp(self, obj: ModelVersion) -> str:
        return "–" if obj.dp_epsilon is None else f"{obj.dp_epsilon:.2f} ({obj.dp_delta:.1e}), σ {obj.dp_noise_multiplier:.2f}"

    @admin.action(description="Retrain the selected versions' tenants")
    def retrain(self, request, queryset):
        retrain_tenants(self, request, {version.tenant for version in queryset.select_related("tenant")})

    @admin.action(description="Activate (or roll back to) the selected version")
    def activate(self, request, queryset):
        versions = list(queryset.select_related("tenant"))
        tenants = [v.tenant_id for v in versions]
        if len(tenants) != len(set(tenants)):
            self.message_user(request, "Nothing was activated: a tenant has one active version, so select at most "
                                       "one version per tenant.", messages.ERROR)
            return
        for version in versions:
            try:
                outcome = precompute.request_activation(version)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{version.tenant} v{version.number}: {outcome}.", messages.SUCCESS)

    @admin.action(description="Cancel the selected queued or running trainings")
    def cancel(self, request, queryset):
        cancelled = sum(training.cancel(version, by=request.user) for version in queryset)
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} run{pluralize(cancelled)}.", messages.SUCCESS)
        else:
            self.message_user(request, "Nothing was cancelled: none of the selected runs was queued or running.",
                              messages.WARNING)


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    """Rules validate on save through Rule.clean, exactly as in the tenant UI and the API."""

    list_display = ["name", "tenant", "kind", "priority", "enabled", "starts_at", "ends_at", "updated_at"]
    list_filter = ["kind", "enabled", "tenant"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["created_at", "updated_at"]
    raw_id_fields = ["tenant"]

    def get_readonly_fields(self, request, obj=None):
        # A rule never moves between tenants.
        return [*self.readonly_fields, "tenant"] if obj else self.readonly_fields


@admin.register(PrivacySettings)
class PrivacySettingsAdmin(admin.ModelAdmin):
    list_display = ["tenant", "dp_enabled", "epsilon", "max_epsilon", "max_results", "dp_training", "dp_training_epsilon",
                    "updated_at"]
    list_filter = ["dp_enabled", "dp_training"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]
    # Turning pseudonymous ids on must convert the stored ids: the tenant's privacy page or API does that.
    readonly_fields = ["statement", "training_statement", "pseudonymous_ids", "updated_at"]
    raw_id_fields = ["tenant"]


@admin.register(TrainingPolicy)
class TrainingPolicyAdmin(admin.ModelAdmin):
    list_display = ["tenant", "auto_retrain", "retrain_min_new_events", "retrain_interval_hours", "activation_margin",
                    "top_k", "exclude_seen", "max_events_per_user_minute", "max_events_per_user_hour",
                    "max_examples_per_user", "new_user_days", "new_user_item_floor"]
    list_filter = ["auto_retrain"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant"]
    raw_id_fields = ["tenant"]


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    """The erasure audit trail: read-only, and it holds no end-user id by design."""

    list_display = ["created_at", "tenant", "via", "requested_by", "api_key_name", "events_deleted", "rankings_deleted", "completed_at", "version"]
    list_filter = ["via"]
    search_fields = ["tenant__slug"]
    list_select_related = ["tenant", "requested_by", "version"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Celery's task results are written by workers only: no add, no edit (django_celery_results registers
# them editable).
admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class ReadOnlyTaskResultAdmin(TaskResultAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
