"""Hyper-parameters of the candidate generator and the listwise re-ranker, in one place."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class RerankerConfig:
    # --- general ---
    seed: int = 0  # every RNG (numpy, torch, ALS) derives from this; same seed, same model
    device: str = "auto"  # "auto" picks CUDA when present (with mixed precision), else CPU
    num_threads: int = 0  # CPU threads for torch/BLAS; 0 = min(cpu_count, 8), more rarely helps small models

    # --- candidates (first stage) ---
    n_candidates: int = 200  # size of the list the re-ranker re-orders
    exclude_seen: bool = True  # drop items the user already consumed (per-tenant option)
    recency_decay: float = 0.7  # weight of the k-th most recent history item is decay**k (kNN, text)
    recency_window: int = 30  # only the last items matter once decay**k is negligible
    knn_neighbours: int = 100  # neighbours kept per item for item-to-item similarity
    knn_shrink: float = 10.0  # shrinks cosine of rarely co-consumed pairs towards 0
    transition_window: int = 5  # j counts as following i when it comes at most this many events later
    transition_norm: float = 0.75  # successor counts are divided by count(i)**norm (0.75 beat 0.5 and 1 on validation)
    text_neighbours: int = 50  # neighbours kept per item for text similarity
    als_factors: int = 64  # ALS latent size; 64 is plenty below a few 100k users
    als_regularization: float = 0.05
    als_alpha: float = 2.0  # confidence = 1 + alpha * interaction
    als_iterations: int = 12
    pop_half_life_days: float = 60.0  # "recent" popularity decays with this half-life
    pop_bucket_days: float = 14.0  # popularity snapshots are kept per bucket of this many days
    source_weights: dict[str, float] = field(
        default_factory=lambda: {"transition": 1.0, "item_knn": 1.0, "als": 0.6, "text": 0.3, "recent_popularity": 0.3}
    )  # reciprocal-rank fusion weights; chosen on validation recall@N
    crossfit_folds: int = 2  # first-stage features of training lists come from models fit on other users; 2 fits, not 3

    # --- re-ranker network ---
    max_history: int = 50  # last L interactions the history encoder reads
    d_model: int = 64  # small: 2 CPU cores must train it in ~1 minute
    n_heads: int = 2
    n_history_layers: int = 2
    n_candidate_layers: int = 1  # PRM-style self-attention over the candidate list
    dropout: float = 0.0  # 0.2 gave the same validation NDCG@10 at 3 epochs and costs ~15% of a CPU step
    text_dim: int = 384  # MiniLM output size

    # --- training ---
    max_epochs: int = 3  # one cosine cycle; validation NDCG@10 still rises at epoch 3 (see EXPERIMENTS.md)
    # Epochs without validation NDCG@10 gain before stopping; the best epoch's weights are kept. 1: with
    # 3 epochs a patience of 2 could never stop early (EXPERIMENTS.md, "Scale").
    patience: int = 1
    lr: float = 2e-3  # peak of the one-cycle schedule (10% warm-up, cosine decay)
    weight_decay: float = 0.0
    batch_size: int = 128  # sequences (next-item loss) or candidate lists per step
    n_negatives: int = 256  # shared sampled negatives per step for the next-item softmax
    max_positions_per_user: int = 100  # listwise positions come from each user's last ones (targets are last events)
    # Next-item windows (one per 50 events of a user) drawn per epoch: all up to this many, then
    # max_train_windows * sqrt(windows / max_train_windows), freshly sampled each epoch (train.epoch_windows).
    max_train_windows: int = 20000
    max_train_lists: int = 20000  # positions sampled for listwise training; ~54% become lists (target in candidates)
    train_list_size: int = 32  # candidates kept per training list (target + random others): ~6x cheaper steps
    hard_negatives: int = 0  # of those others, how many come from the top of the fused order (experiment, see EXPERIMENTS.md)
    list_weight: float = 1.0  # weight of the listwise loss against the next-item loss
    # Per-user contribution cap: each user gives at most this many next-item targets and at most this many
    # listwise lists, from their most recent positions (0 = no cap). Bounds one user's weight in training.
    max_examples_per_user: int = 0
    # New-user bound (robust.py): users whose first event is under this many days old count as at most
    # max(new_user_item_floor, established users) users per item; the rest of their events on that item
    # are left out of training. Bounds many slow fake accounts pushing one item (0 days = off).
    new_user_days: float = 0.0
    new_user_item_floor: int = 10
    new_user_min_established: int = 100  # below this many established users the bound is off (a young tenant)

    # --- evaluation ---
    # Metrics read every eval user up to this many, else a seeded sample of this many, with a 95% interval
    # (ndcg@10_ci95): NDCG@10 over 5,000 users is within about +-0.006 at 0.08.
    max_eval_users: int = 5000

    # --- differential privacy (DP-SGD through Opacus, one DP sample per user; see private.py) ---
    dp_epsilon: float = 0.0  # target epsilon of the network training; 0 = non-private
    dp_delta: float = 0.0  # 0 = 1 / (10 * number of users)
    dp_max_grad_norm: float = 1.0  # per-user gradient clipping bound
    dp_epochs: int = 6  # passes over the users (expected); the noise multiplier is set for this many
    dp_batch_users: int = 128  # expected users per step (Poisson rate = this / users); large batches average noise away
    dp_lr: float = 5e-3  # Adam learning rate of the private training (constant)
    dp_accountant: str = "prv"  # Opacus accountant: "prv" (tightest) or "rdp" (looser epsilon, faster to compute)
    # "network": DP-SGD on the network only (the first stage is exact); "end_to_end": the first stage's counts
    # are private too and dp_epsilon is the whole run's (private_first_stage.py)
    dp_mode: str = "network"
    # end to end: each user's last this many events feed the cluster transitions (32 beat 8 on ml-latest-small
    # validation at sigma 1.5: more of a user's transitions at a smaller weight each, cells shared by many users)
    dp_events_per_user: int = 32
    # end to end: each user's last this many events feed popularity (128 kept 0.016 validation NDCG@10 at sigma
    # 1.5-4.5, where 8 fell to 0.013-0.001; the norm of one user spreads thinner but every count is larger)
    dp_popularity_events: int = 128
    dp_clusters: int = 64  # end to end: transitions are counted between k-means clusters of the public text embeddings
    # end to end: above this first-stage noise multiplier the clusters shrink as 1/sigma (fewer, fuller cells): on
    # ml-latest-small validation 16 clusters beat 64 at sigma 4.8 (epsilon 1), 64 beat 32 and 128 at sigma 0.8-1.3
    dp_cluster_sigma: float = 1.5
    dp_transition_window: int = 1  # end to end: only the next event counts (longer windows spread the user's norm)
    # end to end: the first stage alone spends this share of dp_epsilon. The DP-SGD network adds nothing
    # measurable on top of its prior at 610 users (EXPERIMENTS.md), so the first stage gets most of it
    dp_first_stage_share: float = 0.9
    # end to end: DP-SGD trains only the wide path (a weight per first-stage feature, from the fused-order prior).
    # With the whole network at epsilon 8 (DP-SGD sigma 1.65) test NDCG@10 fell from the prior's 0.0306 to 0.0237
    dp_end_to_end_wide_only: bool = True
    dp_neighbour_z: float = 3.0  # end to end: an item's noisy popularity counts only above this many noise sigmas
    # end to end: fusion weights. Item-kNN and ALS are not fitted; the private transition source (text-cluster
    # Markov chain) and the public text source at equal weight beat text-heavy (.3/1) and transition-heavy (1/.5)
    # fusion on ml-latest-small validation at sigma 0.8 (0.0299 vs 0.0236 / 0.0270)
    dp_source_weights: dict[str, float] = field(
        default_factory=lambda: {"transition": 1.0, "item_knn": 0.0, "als": 0.0, "text": 1.0, "recent_popularity": 0.3}
    )

    # --- model selection (selection.py) ---
    # What the version serves: "reranker", or the first-stage source that beat it on validation.
    serve: str = "reranker"
    # The re-ranker is served only when its validation NDCG@10 beats the best source's by more than this
    # fraction: a near tie goes to the source (as good within noise, simpler, cheaper to serve). Items
    # added since training are still scored through the network's text projection either way.
    selection_margin: float = 0.01

    def to_dict(self) -> dict:
        """Return a JSON-serialisable copy."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RerankerConfig":
        """Build a config, ignoring keys this version does not know."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
