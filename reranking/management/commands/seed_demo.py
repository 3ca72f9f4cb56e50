from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand

from reranking.demo_data import generate
from reranking.services.bulk import import_events, import_items
from tenants.models import ApiKey, Scope
from tenants.services import ensure_tenant


class Command(BaseCommand):
    help = "Create the demo tenant, its owner login and an API key, and load generated shop data."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--users", type=int, default=600)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--lines-per-category", type=int, default=25, help="Catalogue size (25: 800 items).")
        parser.add_argument("--credentials-file", default=None, help="Also write login and key to this file.")

    def handle(self, *args, **options) -> None:
        password = secrets.token_urlsafe(10)
        tenant = ensure_tenant(options["slug"], "Demo Shop", "demo", password)
        items, events = generate(seed=options["seed"], n_users=options["users"],
                                lines_per_category=options["lines_per_category"])
        result = import_items(tenant, items)
        self.stdout.write(f"items: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
        ingest = import_events(tenant, events, total=len(events))
        self.stdout.write(f"events: {ingest.stored} stored, {ingest.duplicates} already there")
        _, raw = ApiKey.issue(tenant, "demo", [Scope.READ, Scope.INGEST, Scope.ADMIN])
        lines = [f"login:   demo / {password}", f"api key: {raw}"]
        if options["credentials_file"]:
            with open(options["credentials_file"], "w") as handle:
                handle.write("\n".join(lines) + "\n")
        for line in lines:
            self.stdout.write(line)
