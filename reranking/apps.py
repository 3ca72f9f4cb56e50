from django.apps import AppConfig


class RerankingConfig(AppConfig):
    name = "reranking"
    default_auto_field = "django.db.models.BigAutoField"
