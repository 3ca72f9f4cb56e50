"""Tenant-owned data: the catalogue, end users and their interactions."""
from .catalogue import Item
from .events import EndUser, Event

__all__ = ["Item", "EndUser", "Event"]
