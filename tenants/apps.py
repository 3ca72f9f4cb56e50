from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - clears the API-key memo when a key or tenant changes
        from .api import schema  # noqa: F401 - registers the schema extension for API keys
