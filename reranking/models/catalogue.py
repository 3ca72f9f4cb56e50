"""Catalogue items, identified by the tenant's own external id."""
from __future__ import annotations

from django.db import models

from tenants.models import TenantOwned

# Fields a catalogue upsert compares to decide whether an item changed.
ITEM_FIELDS = ("title", "description", "category", "tags", "attributes", "price", "available")


class Item(TenantOwned):
    external_id = models.CharField(max_length=200)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=200, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    available = models.BooleanField(default=True)
    is_deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "external_id"], name="item_unique_external_id")]
        indexes = [
            models.Index(fields=["tenant", "category"], name="item_tenant_category"),
            models.Index(fields=["tenant", "is_deleted", "available"], name="item_tenant_live"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.title}"

    @property
    def text(self) -> str:
        """Return the text the encoder embeds: title, category, tags and description."""
        parts = [self.title, self.category, " ".join(str(t) for t in self.tags), self.description]
        return ". ".join(p for p in parts if p)

    def field_values(self) -> dict:
        return {name: getattr(self, name) for name in ITEM_FIELDS}
