from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from reranking.models import RunStatus
from reranking.services import precompute, training
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Train a tenant's re-ranker and precompute its rankings in the foreground, with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")

    def handle(self, *args, **options) -> None:
        try:
            tenant = Tenant.objects.get(slug=options["slug"])
        except Tenant.DoesNotExist as exc:
            raise CommandError(f"No tenant with slug {options['slug']!r}.") from exc
        run, created = training.request_training(tenant, trigger="command", enqueue=False)
        if not created:
            raise CommandError(f"v{run.number} is already {run.status} for {tenant.slug}; wait for it or cancel it.")
        bar = tqdm(total=100, unit="%", bar_format="{desc:<28} {bar} {n:.0f}% [{elapsed}]")

        def progress(phase: str, percent: float) -> None:
            bar.set_description_str(phase[:28])
            bar.update(max(0.0, percent - bar.n))

        trained = training.run_training(run.pk, progress=progress)
        if trained is None:
            run.refresh_from_db()
            bar.close()
            raise CommandError(f"v{run.number} {run.status}: {run.error.splitlines()[0] if run.error else ''}")
        shards = precompute.plan_shards(trained)
        for shard in shards:
            precompute.run_shard(shard.pk)
            progress(f"precompute {shard.index + 1}/{len(shards)}", 82 + 18 * (shard.index + 1) / len(shards))
        if not shards:
            precompute.maybe_finish(trained.pk)
        bar.close()
        trained.refresh_from_db()
        status = "active" if trained.is_active else (trained.activation_note or trained.status)
        self.stdout.write(f"v{trained.number} {trained.status} on {trained.device} ({status})")
        for row in trained.metrics.get("methods", []):
            self.stdout.write(f"  {row['name']:<22} NDCG@10 {row.get('ndcg@10', 0):.4f}  HR@10 {row.get('hit@10', 0):.4f}")
        if trained.status != RunStatus.SUCCEEDED:
            raise CommandError(f"v{trained.number} ended {trained.status}")
