from django.apps import AppConfig


class RerankingConfig(AppConfig):
    name = "reranking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tenants.health import register_detail

        from . import signals  # noqa: F401 - connects the cache-invalidation receivers
        from .health import model_status

        register_detail("models", model_status)
