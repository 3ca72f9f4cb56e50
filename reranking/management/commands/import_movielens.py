from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import CommandError

from reranking.importers import movielens_events, movielens_items
from reranking.services.bulk import import_events, import_items
from reranking.services.catalogue import BatchInvalid

from ._base import TenantCommand


class Command(TenantCommand):
    help = "Load a MovieLens folder (ml-latest-small: movies.csv, ratings.csv, tags.csv; or ml-100k: u.item, u.data)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("path", type=Path)

    def handle(self, *args, **options) -> None:
        tenant = self.get_tenant(options["tenant"])
        progress = not options["no_progress"]
        # Read both files before writing anything, so a broken ratings file leaves no half-import.
        try:
            items = movielens_items(options["path"])
            events = list(movielens_events(options["path"]))
        except KeyError as exc:  # a CSV without a column the layout needs
            raise CommandError(f"{options['path']}: a file lacks the column {exc}.") from exc
        except (OSError, ValueError, csv.Error) as exc:
            raise CommandError(f"{options['path']}: {exc}") from exc
        if "rating" not in tenant.event_types:
            tenant.event_types = [*tenant.event_types, "rating"]
            tenant.save(update_fields=["event_types"])
        try:
            result = import_items(tenant, items, progress=progress)
        except BatchInvalid as exc:
            raise self.fail_on_invalid(exc) from exc
        self.stdout.write(f"items: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
        self.report_events(import_events(tenant, events, total=len(events), progress=progress))
