"""Staff administration of tenants, memberships and API keys (never their secrets)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone

from .authentication import forget_keys
from .models import ApiKey, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "members", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]
    actions: list = []  # reranking/admin.py adds "Retrain" (tenants imports nothing from reranking)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_members=Count("memberships"))

    @admin.display(description="members", ordering="n_members")
    def members(self, obj: Tenant) -> int:
        return obj.n_members


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]
    readonly_fields = ["created_at"]


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys can be renamed and revoked here; their secret was shown once at creation and is not stored."""

    list_display = ["name", "masked", "tenant", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [KeyStateFilter, "tenant"]
    search_fields = ["name", "tenant__slug", "=lookup"]
    list_select_related = ["tenant"]
    fields = ["name", "tenant", "masked", "lookup", "scopes", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["tenant", "masked", "lookup", "scopes", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are issued through the API or the tenant UI, which show the secret once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        forget_keys()  # update() sends no signal; other processes follow within KEY_MEMO_SECONDS
        self.message_user(request, f"Revoked {count} keys.", messages.SUCCESS)
