"""Drop cached tenant settings (rules, privacy, ingestion limits) whenever they change, from any entry point."""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import PrivacySettings, Rule, TrainingPolicy
from .services.cache import delete, ingest_limits_key, policy_key, privacy_key, rules_key


@receiver([post_save, post_delete], sender=Rule)
@receiver([post_save, post_delete], sender=PrivacySettings)
def forget_serving_settings(sender, instance, **kwargs) -> None:
    delete(rules_key(instance.tenant_id), privacy_key(instance.tenant_id))


@receiver([post_save, post_delete], sender=TrainingPolicy)
def forget_ingest_limits(sender, instance, **kwargs) -> None:
    delete(ingest_limits_key(instance.tenant_id), policy_key(instance.tenant_id))
