"""Drop cached serving settings whenever rules or privacy settings change, from any entry point."""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import PrivacySettings, Rule
from .services.cache import delete, privacy_key, rules_key


@receiver([post_save, post_delete], sender=Rule)
@receiver([post_save, post_delete], sender=PrivacySettings)
def forget_serving_settings(sender, instance, **kwargs) -> None:
    delete(rules_key(instance.tenant_id), privacy_key(instance.tenant_id))
