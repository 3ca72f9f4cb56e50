from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import CommandError

from reranking.importers import generic_events
from reranking.services.bulk import import_events

from ._base import TenantCommand


class Command(TenantCommand):
    help = "Ingest an interactions CSV (user_id,item_id,timestamp[,event_type,value])."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options) -> None:
        tenant = self.get_tenant(options["tenant"])
        path: Path = options["file"]
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        with open(path, "rb") as handle:
            total = max(sum(1 for _ in handle) - 1, 0)
        try:
            result = import_events(tenant, generic_events(path), total=total, progress=not options["no_progress"])
        except (ValueError, csv.Error) as exc:
            raise CommandError(str(exc)) from exc
        self.report_events(result)
