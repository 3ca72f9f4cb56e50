"""Staff views of catalogue and interactions: read-mostly, and cheap on tables of millions of rows."""
from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from .models import EndUser, Event, Item


class NoCountPaginator(Paginator):
    """Skip COUNT(*) on huge tables; the admin shows 'next' pages without a total."""

    @cached_property
    def count(self) -> int:
        return 10**9


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "title", "tenant", "category", "price", "available", "is_deleted", "updated_at"]
    list_filter = ["available", "is_deleted"]
    search_fields = ["=external_id", "title"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "external_id", "created_at", "updated_at"]
    show_full_result_count = False


@admin.register(EndUser)
class EndUserAdmin(admin.ModelAdmin):
    list_display = ["external_id", "tenant", "created_at"]
    search_fields = ["=external_id"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "external_id", "created_at"]
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "tenant", "user", "item", "event_type", "value"]
    list_filter = ["event_type"]
    search_fields = ["=user__external_id", "=item__external_id", "=event_id"]
    list_select_related = ["tenant", "user", "item"]
    raw_id_fields = ["user", "item"]
    readonly_fields = [f.name for f in Event._meta.fields]
    paginator = NoCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False
