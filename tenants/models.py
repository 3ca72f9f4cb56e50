"""Tenants, their members and their API keys, and the base class of every tenant-owned row."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

DEFAULT_EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "rating")


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Event types this tenant accepts; ingestion refuses others row by row.
    event_types = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs) -> None:
        if not self.event_types:
            self.event_types = list(DEFAULT_EVENT_TYPES)
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant) -> "TenantQuerySet":
        return self.filter(tenant=tenant)


class TenantOwned(models.Model):
    """Abstract base of every row a tenant owns. Scoped access goes through `for_tenant`."""

    # No single-column index: every tenant-owned table has an index that starts with tenant_id.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Scope(models.TextChoices):
    READ = "read", "Read"
    INGEST = "ingest", "Ingest"
    ADMIN = "admin", "Admin"


KEY_PREFIX = "rk_"


class RawKey(str):
    """A key's secret as issued: it prints in full (shown once) but its repr, which error reports and
    debuggers show for variables and template contexts, is masked."""

    def __repr__(self) -> str:
        return repr(f"{KEY_PREFIX}…{self[-4:]}")


def hash_key(raw: str) -> str:
    """Return the stored digest of a raw key. Keys are 256-bit random, so a plain SHA-256 suffices."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(TenantOwned):
    """A tenant's API key. Only a hash is stored; the secret is shown once, at creation."""

    name = models.CharField(max_length=100)
    # The public lookup part, "rk_<lookup>_<secret>"; indexed so authentication is one query.
    lookup = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    last4 = models.CharField(max_length=4)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"], name="apikey_tenant_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        return f"{KEY_PREFIX}…{self.last4}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        # admin implies the others: an admin key can do anything within its tenant.
        return scope in self.scopes or Scope.ADMIN in self.scopes

    @sensitive_variables("raw")
    def matches(self, raw: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_key(raw))

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    @classmethod
    @sensitive_variables("raw")
    def issue(cls, tenant: Tenant, name: str, scopes: list[str], created_by=None) -> tuple["ApiKey", str]:
        """Create a key and return it with its raw secret, which is never stored or shown again."""
        lookup = secrets.token_hex(6)
        raw = RawKey(f"{KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}")
        key = cls.objects.create(
            tenant=tenant,
            name=name,
            lookup=lookup,
            key_hash=hash_key(raw),
            last4=raw[-4:],
            scopes=sorted(set(scopes)),
            created_by=created_by,
        )
        return key, raw

    @staticmethod
    def parse_lookup(raw: str) -> str | None:
        if not raw.startswith(KEY_PREFIX):
            return None
        lookup, sep, secret = raw[len(KEY_PREFIX) :].partition("_")
        return lookup if sep and secret and len(lookup) == 12 else None


INVITE_DAYS = 7


class Invite(TenantOwned):
    """A one-time link that makes whoever opens it (and signs in or up) a member with `role`.

    Only a hash of the link's token is stored; the link is shown once, to the owner who made it.
    """

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    note = models.CharField(max_length=200, blank=True, default="", help_text="Who it is for, e.g. an e-mail address.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="invite_tenant_created")]

    def __str__(self) -> str:
        return f"invite to {self.tenant} as {self.role}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @classmethod
    @sensitive_variables("token")
    def issue(cls, tenant: Tenant, role: str, created_by, note: str = "") -> tuple["Invite", str]:
        """Create an invite; return it with the token for its link (never stored, never shown again)."""
        token = secrets.token_urlsafe(32)
        invite = cls.objects.create(tenant=tenant, role=role, note=note, token_hash=hash_key(token), created_by=created_by,
                                    expires_at=timezone.now() + timedelta(days=INVITE_DAYS))
        return invite, token

    @classmethod
    @sensitive_variables("token")
    def find(cls, token: str) -> "Invite | None":
        """Return the invite of a link's token (open or not), or None."""
        return cls.objects.select_related("tenant").filter(token_hash=hash_key(token)).first()
