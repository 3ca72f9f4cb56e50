"""Tenant-owned data: the catalogue, end users, interactions, and the models trained on them."""
from .budget import PrivacyRelease
from .catalogue import Item
from .erasure import ErasureRecord
from .events import EndUser, Event
from .experiments import ArmKind, Experiment, ExperimentArm, ExperimentStatus, Impression, OnlineSettings
from .served import ServedRecommendation
from .serving import PrivacySettings, Rule
from .webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .versions import IN_FLIGHT, ItemEmbedding, ModelVersion, PrecomputeShard, Ranking, RunStatus, TrainingPolicy

__all__ = [
    "Item", "EndUser", "Event", "ModelVersion", "PrecomputeShard", "Ranking", "ItemEmbedding", "RunStatus",
    "TrainingPolicy", "IN_FLIGHT", "Rule", "PrivacySettings", "ErasureRecord",
    "ServedRecommendation", "Impression", "OnlineSettings", "Experiment", "ExperimentArm", "ExperimentStatus",
    "ArmKind", "PrivacyRelease", "WebhookEndpoint", "WebhookDelivery", "WebhookEvent", "DeliveryStatus",
]
