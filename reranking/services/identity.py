"""End-user ids as the database stores them: the client's own id, or a keyed hash of it (pseudonymous ids).

Every place that turns a client's user id into a database value goes through `UserIds.stored` (via
`stored_user_id` or `find_user`; ingest reads the setting once per batch): ingest, recommendations,
re-rank, rule previews, erasure, export and the web UI's user pages. Clients keep sending and receiving their own ids; with
the tenant's `pseudonymous_ids` on, the database (EndUser.external_id, Ranking.user_external_id) and the
cache keys only ever see `p_` + HMAC-SHA256(key, id).

The key is HMAC-SHA256(settings.PSEUDONYM_KEY, tenant salt): the salt is random per tenant (so two
tenants' hashes of the same id differ) and lives in the database, PSEUDONYM_KEY lives only in the
server's environment. A database dump therefore cannot be reversed by hashing every id of a small id
space (phone numbers, sequential ids): that needs the environment too. Hashes cannot be reversed at all
by the platform, so the option cannot be turned off again, and listings that are not about one named
user (GET /users, GET /events, the dashboard) show the pseudonyms.

Turning the option on converts the tenant's existing ids in one transaction (`save_settings`), holding
the tenant row's lock; ingest takes a shared lock on that row (`user_ids(..., for_write=True)`), so a
batch never stores a raw id after the conversion. Serving reads the setting through a cache memoised
for cache.LOCAL_SECONDS, so for that long after the switch other processes may still answer 404 for a
user; they never write.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from reranking.models import EndUser, ModelVersion, PrivacySettings, Ranking
from tenants.models import Tenant

from . import cache, served_log
from .catalogue import chunked

PREFIX = "p_"
SETTING_TTL = 600  # seconds; save_settings deletes the key, the TTL only bounds a missed delete


@lru_cache(maxsize=1024)
def tenant_key(salt: str, server_key: str) -> bytes:
    """Return a tenant's HMAC key from its salt and the server's PSEUDONYM_KEY (memoised)."""
    if not server_key:
        raise ImproperlyConfigured("PSEUDONYM_KEY is not set; pseudonymous end-user ids need it.")
    return hmac.new(server_key.encode(), salt.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class UserIds:
    """How one tenant stores end-user ids; `salt` is None when ids are stored as sent."""

    salt: str | None

    @property
    def pseudonymous(self) -> bool:
        return self.salt is not None

    def stored(self, raw: str) -> str:
        """Return the stored form of a client's user id (the one function every lookup uses)."""
        if self.salt is None:
            return raw
        key = tenant_key(self.salt, django_settings.PSEUDONYM_KEY)
        return PREFIX + hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


def pseudonym_key(tenant_id: int) -> str:
    return f"recs:pseudonym:{tenant_id}"


def _read(tenant: Tenant) -> UserIds:
    row = PrivacySettings.objects.filter(tenant=tenant).values_list("pseudonymous_ids", "pseudonym_salt").first()
    on, salt = row or (False, "")
    return UserIds(salt if on else None)


def user_ids(tenant: Tenant, *, for_write: bool = False) -> UserIds:
    """Return how this tenant stores user ids.

    Reads are cached (per process for cache.LOCAL_SECONDS, then Redis). Writers that may create end
    users pass for_write=True inside their transaction: it reads the settings uncached after taking a
    shared lock on the tenant row, so the conversion in `save_settings` cannot interleave.
    """
    if for_write:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # KEY SHARE on the tenant row: ingests do not wait on each other (inserting events takes this
            # lock anyway, for the foreign key), only on a conversion, which holds FOR UPDATE.
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {Tenant._meta.db_table} WHERE id = %s FOR KEY SHARE", [tenant.pk])
        return _read(tenant)
    salt = cache.remember(pseudonym_key(tenant.pk), SETTING_TTL, lambda: _read(tenant).salt or "", local=True)
    return UserIds(salt or None)


def stored_user_id(tenant: Tenant, raw: str | None) -> str | None:
    """Return the id this tenant's database holds for the client's user id `raw` (None stays None)."""
    return None if raw is None else user_ids(tenant).stored(raw)


def find_user(tenant: Tenant, raw: str) -> EndUser | None:
    """Return the tenant's end user with the client id `raw`, or None."""
    return EndUser.objects.for_tenant(tenant).filter(external_id=stored_user_id(tenant, raw)).first()


LOCKED_MESSAGE = "Cannot be turned off once on: the raw user ids are no longer stored anywhere."


class SettingLocked(ValueError):
    """Pseudonymous ids cannot be turned off: the raw ids are gone (forms and serializers say so first)."""


def save_settings(tenant: Tenant, save: Callable[[], PrivacySettings]) -> PrivacySettings:
    """Save the tenant's privacy settings via `save`; when pseudonymous ids turn on, convert stored ids.

    One transaction holding the tenant row's lock: the existing end users' ids and their rankings'
    denormalised ids are replaced by their hashes, then the settings are saved. Cached rankings and
    freshness marks keyed by raw ids are deleted after the commit. Raises SettingLocked when asked to
    turn the option off again.
    """
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # waits for ingests in flight; holds off new ones
        before = PrivacySettings.for_tenant(tenant)
        settings_row = save()
        if before.pseudonymous_ids and not settings_row.pseudonymous_ids:
            raise SettingLocked(LOCKED_MESSAGE)
        if settings_row.pseudonymous_ids and not before.pseudonymous_ids:
            settings_row.pseudonym_salt = secrets.token_hex(16)
            PrivacySettings.objects.filter(pk=settings_row.pk).update(pseudonym_salt=settings_row.pseudonym_salt)
            # The served-list buffer holds raw ids: store what it has now, while they still match.
            served_log.flush()
            stale = convert_existing(tenant, UserIds(settings_row.pseudonym_salt))
            transaction.on_commit(lambda: cache.delete(*stale))
        transaction.on_commit(lambda: cache.delete(pseudonym_key(tenant.pk), cache.privacy_key(tenant.pk)))
    return settings_row


def convert_existing(tenant: Tenant, ids: UserIds) -> list[str]:
    """Replace the tenant's stored raw ids by their hashes; return the cache keys that held raw ids."""
    users = list(EndUser.objects.for_tenant(tenant).only("id", "external_id"))
    version_ids = list(ModelVersion.objects.for_tenant(tenant).values_list("id", flat=True))
    stale: list[str] = []
    for user in users:
        stale += [cache.last_event_key(tenant.pk, user.external_id), cache.seen_key(tenant.pk, user.external_id)]
        stale.extend(cache.ranking_key(pk, user.external_id) for pk in version_ids)
        stale.extend(cache.live_user_key(pk, user.external_id) for pk in version_ids)
        user.external_id = ids.stored(user.external_id)
    for part in chunked(users, 1000):
        EndUser.objects.bulk_update(part, ["external_id"])
    Ranking.objects.for_tenant(tenant).update(
        user_external_id=Subquery(EndUser.objects.filter(pk=OuterRef("user_id")).values("external_id")[:1])
    )
    return stale
