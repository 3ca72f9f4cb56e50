from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from reranking.services.bulk import import_items
from reranking.services.catalogue import BatchInvalid, read_item_csv

from ._base import TenantCommand


class Command(TenantCommand):
    help = "Upsert a catalogue CSV (item_id,title[,description,category,tags,price,available,...])."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options) -> None:
        tenant = self.get_tenant(options["tenant"])
        try:
            rows = read_item_csv(options["file"].read_bytes())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        try:
            result = import_items(tenant, rows, strict_keys=False, progress=not options["no_progress"])
        except BatchInvalid as exc:
            raise self.fail_on_invalid(exc) from exc
        self.stdout.write(f"items: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
