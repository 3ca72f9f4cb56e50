from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from tenants.models import ApiKey, Scope
from tenants.services import ensure_tenant


class Command(BaseCommand):
    help = "Create a tenant with an owner login and print an API key (the secret is shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", default=None)
        parser.add_argument("--owner", default=None, help="Username of the owner (created if missing).")
        parser.add_argument("--password", default=None, help="Owner password; a random one is printed if omitted.")
        parser.add_argument("--scopes", default="read,ingest,admin")

    def handle(self, *args, **options) -> None:
        # Check everything before creating anything, so a typo leaves no half-made tenant behind.
        try:
            validate_slug(options["slug"])
        except ValidationError as exc:
            raise CommandError(f"{options['slug']!r} is not a valid slug: letters, digits, - and _ only.") from exc
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        unknown = set(scopes) - set(Scope.values)
        if unknown or not scopes:
            given = ", ".join(sorted(unknown)) or "(none given)"
            raise CommandError(f"Unknown scopes: {given}; choose from {', '.join(Scope.values)}.")
        password = options["password"]
        if options["owner"] and not password:
            password = secrets.token_urlsafe(12)
        tenant = ensure_tenant(options["slug"], options["name"] or options["slug"], options["owner"], password)
        _, raw = ApiKey.issue(tenant, "created by create_tenant", scopes)
        self.stdout.write(f"tenant:   {tenant.slug}")
        if options["owner"]:
            self.stdout.write(f"login:    {options['owner']} / {password}")
        self.stdout.write(f"api key:  {raw}")
