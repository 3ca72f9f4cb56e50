"""Keep this process's API-key memo honest: any saved or deleted key or tenant clears it."""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .authentication import forget_keys
from .models import ApiKey, Tenant


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="tenants.forget_keys.apikey")
@receiver([post_save, post_delete], sender=Tenant, dispatch_uid="tenants.forget_keys.tenant")
def key_or_tenant_changed(sender, **kwargs) -> None:
    forget_keys()
