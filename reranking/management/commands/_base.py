"""Shared bits of the import commands."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from reranking.services.catalogue import BatchInvalid
from reranking.services.ingest import IngestResult
from tenants.models import Tenant


class TenantCommand(BaseCommand):
    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Slug of the tenant to import into.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def get_tenant(self, slug: str) -> Tenant:
        try:
            return Tenant.objects.get(slug=slug)
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"No tenant with slug {slug!r}.") from exc

    def fail_on_invalid(self, exc: BatchInvalid) -> CommandError:
        lines = [f"  row {e.index}: {e.field}: {e.message}" for e in exc.errors[:20]]
        return CommandError(f"{len(exc.errors)} invalid rows; nothing was written:\n" + "\n".join(lines))

    def report_events(self, result: IngestResult) -> None:
        self.stdout.write(f"events: {result.stored} stored, {result.duplicates} duplicates, {len(result.errors)} rejected")
        for error in result.errors[:20]:
            self.stdout.write(f"  row {error.index}: {error.field}: {error.message}")
