from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from tenants.models import ApiKey, Scope, Tenant
from tenants.services import TenantExists, create_tenant


class Command(BaseCommand):
    help = ("Create a tenant with an owner login and print an API key (the secret is shown once). "
            "A taken slug is refused; --add-key issues another key for an existing tenant instead.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default=None)
        parser.add_argument("--owner", default=None,
                            help="Username of the owner: created if missing; an existing login keeps its password.")
        parser.add_argument("--password", default=None,
                            help="Password of a new owner login; a random one is printed if omitted.")
        parser.add_argument("--scopes", default="read,ingest,admin")
        parser.add_argument("--add-key", action="store_true",
                            help="Issue another key for an existing tenant (nothing else changes).")

    def handle(self, *args, **options) -> None:
        # Check everything before creating anything, so a typo leaves no half-made tenant behind.
        slug, owner = options["slug"], options["owner"]
        try:
            validate_slug(slug)
        except ValidationError as exc:
            raise CommandError(f"{slug!r} is not a valid slug: letters, digits, - and _ only.") from exc
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        unknown = set(scopes) - set(Scope.values)
        if unknown or not scopes:
            given = ", ".join(sorted(unknown)) or "(none given)"
            raise CommandError(f"Unknown scopes: {given}; choose from {', '.join(Scope.values)}.")
        if options["add_key"]:
            self.add_key(slug, scopes, options)
            return
        existing_login = bool(owner) and get_user_model().objects.filter(username=owner).exists()
        if existing_login and options["password"]:
            raise CommandError(f"The login {owner!r} exists; create_tenant never changes a password. "
                               "Leave out --password (that login keeps its own).")
        password = options["password"] or (secrets.token_urlsafe(12) if owner and not existing_login else None)
        try:
            tenant = create_tenant(slug, options["name"] or slug, owner, password)
        except TenantExists:
            raise CommandError(f"A tenant {slug!r} exists already; nothing was changed. "
                               "To issue another key for it, add --add-key.") from None
        _, raw = ApiKey.issue(tenant, "created by create_tenant", scopes)
        self.stdout.write(f"tenant:   {tenant.slug}")
        if existing_login:
            self.stdout.write(f"login:    {owner} (existing login, password unchanged)")
        elif owner:
            self.stdout.write(f"login:    {owner} / {password}")
        self.stdout.write(f"api key:  {raw}")

    def add_key(self, slug: str, scopes: list[str], options: dict) -> None:
        if options["owner"] or options["password"] or options["name"]:
            raise CommandError("--add-key issues a key only; it takes no --owner, --password or --name.")
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}; leave out --add-key to create it.")
        _, raw = ApiKey.issue(tenant, "added by create_tenant --add-key", scopes)
        self.stdout.write(f"tenant:   {tenant.slug}")
        self.stdout.write(f"api key:  {raw}")
