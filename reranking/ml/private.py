"""Differentially private training of the re-ranker network: DP-SGD through Opacus, one DP sample per user.

Unit of privacy: the user. Each user's training examples (at most m next-item targets from their last
m positions and at most m candidate lists at those positions) are packed into ONE sample: one history
window (the causal encoder's output at every position gives every example its user state) plus the lists
side by side in one row, kept apart by a block attention mask. Opacus computes one gradient per sample,
so its per-sample clipping is per-user clipping, its Poisson sampling draws users, and the accountant's
(epsilon, delta) holds for adding or removing one user's examples.

What the guarantee covers: the network weights' dependence on each user's own training examples.
The candidate lists' first-stage features (kNN, transitions, ALS, popularity; cross-fitted on OTHER
users) and the first-stage state shipped in the artifact are computed without noise: they are NOT
differentially private, and one user's events also shape other users' features through them.
Validation NDCG@10 is reported per epoch but never used to pick an epoch (that would spend budget):
the last epoch is the model.

Choices that keep the noise small: item id embeddings are frozen at zero (items are represented by
the public MiniLM text embeddings through a frozen projection: 119k trainable weights instead of 768k on
ml-latest-small), and the wide feature path
starts from the merged first-stage order (a data-independent prior), so the noisy network refines the
fused candidate order instead of learning it from scratch. End to end (`dp_end_to_end_wide_only`), only the wide
path trains (one weight per first-stage feature): there, DP-SGD on the whole network pulled the ranking below
its own prior (reranking/ml/EXPERIMENTS.md), while 16 weights see little noise per step.

Randomness: Poisson sampling of users and the Gaussian noise use torch generators seeded from the OS's
entropy (secrets), so two runs with the same config.seed differ. Opacus' secure_mode (torchcsprng) is not
used: the generators are torch's PRNG, not a cryptographic one.

Why not Opacus' own DPMultiheadAttention: in opacus 1.5.4 its batch_first=True path rejects valid 3-D
masks and splices heads into time steps when reshaping the output (opacus issues #774 and PR #825);
`PrivateSelfAttention` below is built from nn.Linear layers, whose per-sample gradients Opacus hooks
support, and it is swapped back to nn.MultiheadAttention weights after training.
"""
from __future__ import annotations

import copy
import math
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import RerankerConfig
from .data import Dataset, first_positions
from .model import RerankerNet, gap_buckets, history_tensors
from . import accounting
from .private_first_stage import (PrivateFirstStage, first_stage_release, fit_private_first_stage, run_epsilon,
                                  sgd_sigma_for)
from .sources import SOURCES

FUSED_RANK = 2 * len(SOURCES) + 1  # feature column of the merged first-stage rank (see FirstStage.candidates)
PRIOR_WEIGHT = 8.0  # wide-path weight on that column at initialisation: scores start in the fused order
DEFAULT_CAP = 8  # examples per user when DP is on and max_examples_per_user is 0


def dp_cap(config: RerankerConfig) -> int:
    """Return m, the examples (targets, and lists) one user contributes under DP: at most one history window."""
    return min(config.max_examples_per_user or DEFAULT_CAP, config.max_history)


class PrivateSelfAttention(nn.Module):
    """Batch-first multi-head attention from four nn.Linear layers (Opacus hooks give per-sample gradients).

    Drop-in for nn.MultiheadAttention inside nn.TransformerEncoderLayer; the attributes below keep the
    layer off its fused fast path, which reads in_proj_weight.
    """

    batch_first = True
    _qkv_same_embed_dim = False
    in_proj_weight = None
    in_proj_bias = None

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.q, self.k, self.v = (nn.Linear(embed_dim, embed_dim) for _ in range(3))
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                is_causal=False, **_):
        # query/key/value: (B, T, D); attn_mask: (T, T) or (B*H, T, T) additive; key_padding_mask: (B, T)
        b, t, d = query.shape
        h = self.num_heads
        q, k, v = (lin(x).view(b, -1, h, d // h).transpose(1, 2) for lin, x in ((self.q, query), (self.k, key),
                                                                                  (self.v, value)))
        mask = None
        if attn_mask is not None:
            mask = attn_mask.view(b, h, t, -1) if attn_mask.dim() == 3 else attn_mask
            mask = mask if mask.dtype != torch.bool else torch.zeros_like(mask, dtype=q.dtype).masked_fill(mask, -math.inf)
        if key_padding_mask is not None:
            pad = key_padding_mask.to(q.dtype) if key_padding_mask.dtype != torch.bool else \
                torch.zeros(b, key.shape[1], dtype=q.dtype, device=q.device).masked_fill(key_padding_mask, -math.inf)
            mask = pad[:, None, None, :] if mask is None else mask + pad[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, D/H)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d)), None


def _attention_layers(net: nn.Module) -> list[nn.TransformerEncoderLayer]:
    return [m for m in net.modules() if isinstance(m, nn.TransformerEncoderLayer)]


def to_private(net: RerankerNet) -> RerankerNet:
    """Return a copy of `net` whose attention is PrivateSelfAttention (same weights)."""
    net = copy.deepcopy(net)
    for layer in _attention_layers(net):
        mha = layer.self_attn
        attn = PrivateSelfAttention(mha.embed_dim, mha.num_heads)
        with torch.no_grad():
            for lin, w, b in zip((attn.q, attn.k, attn.v), mha.in_proj_weight.chunk(3), mha.in_proj_bias.chunk(3)):
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            attn.out_proj.load_state_dict(mha.out_proj.state_dict())
        layer.self_attn = attn
    return net


def standard_state(net: RerankerNet) -> dict[str, torch.Tensor]:
    """Return `net`'s state dict with PrivateSelfAttention weights in nn.MultiheadAttention's layout."""
    state = {}
    for key, value in net.state_dict().items():
        head, _, tail = key.rpartition("self_attn.")
        if head and tail.split(".")[0] in ("q", "k", "v"):
            kind = "weight" if tail.endswith("weight") else "bias"
            if tail.startswith("q."):
                state[f"{head}self_attn.in_proj_{kind}"] = torch.cat(
                    [net.state_dict()[f"{head}self_attn.{x}.{kind}"] for x in "qkv"]).clone()
            continue
        state[key] = value.clone()
    return state


@dataclass
class UserSamples:
    """One row per user: a history window with next-item targets, and up to K lists read at window slots."""

    items: torch.Tensor  # (U, L) history inputs (+1, 0 = pad)
    types: torch.Tensor  # (U, L)
    gaps: torch.Tensor  # (U, L)
    targets: torch.Tensor  # (U, L) next item per slot (+1); 0 = not a target (before the user's last m)
    cand: torch.Tensor  # (U, K, N) list candidates (+1, 0 = pad)
    feats: torch.Tensor  # (U, K, N, F)
    label: torch.Tensor  # (U, K) target's index in each list
    slot: torch.Tensor  # (U, K) window slot whose encoder output is the list's user state
    has_list: torch.Tensor  # (U, K) bool

    def __len__(self) -> int:
        return len(self.items)

    def rows(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t[idx] for t in (self.items, self.types, self.gaps, self.targets, self.cand, self.feats,
                                      self.label, self.slot, self.has_list))


def user_samples(ds: Dataset, seqs: list[np.ndarray], lists, length: int, cap: int) -> UserSamples:
    """Pack each user's last `cap` (<= length) next-item targets and lists into one sample.

    `lists` is train.ListData (with .user and .position); a list at position p (target seqs[u][p]) reads
    the encoder output at the slot holding seqs[u][p - 1].
    """
    cap = min(cap, length)
    n_users = len(seqs)
    firsts = first_positions([len(s) for s in seqs], cap)
    inputs, types, gaps, targets = [], [], [], []
    for seq, first in zip(seqs, firsts):
        items, kinds, gap = ds.event_items[seq], ds.event_types[seq], gap_buckets(ds.timestamps[seq])
        start = max(0, len(seq) - 1 - length)
        tgt = items[start + 1:].copy()
        tgt[: max(0, first - start - 1)] = -1  # only the last `cap` positions are targets
        inputs.append(items[start:len(seq) - 1]); types.append(kinds[start:len(seq) - 1])
        gaps.append(gap[start:len(seq) - 1]); targets.append(tgt)
    h_items, h_types, h_gaps = history_tensors(inputs, types, gaps, length)
    h_targets = history_tensors(targets, types, gaps, length)[0]

    user, pos = lists.user.numpy(), lists.position.numpy()
    lengths = np.array([len(s) for s in seqs])
    keep = pos >= firsts[user]  # the user's last `cap` positions only
    n_cand, n_feat = lists.cand.shape[1], lists.feats.shape[2]
    cand = torch.zeros(n_users, cap, n_cand, dtype=torch.long)
    feats = torch.zeros(n_users, cap, n_cand, n_feat)
    label = torch.zeros(n_users, cap, dtype=torch.long)
    slot = torch.zeros(n_users, cap, dtype=torch.long)
    has = torch.zeros(n_users, cap, dtype=torch.bool)
    filled = np.zeros(n_users, dtype=np.int64)
    for row in np.flatnonzero(keep):
        u = user[row]
        k = filled[u]
        filled[u] += 1
        cand[u, k], feats[u, k], label[u, k] = lists.cand[row], lists.feats[row], lists.label[row]
        slot[u, k] = length - lengths[u] + int(pos[row])  # slot of input position p - 1
        has[u, k] = True
    return UserSamples(h_items, h_types, h_gaps, h_targets, cand, feats, label, slot, has)


class UserLoss(nn.Module):
    """Per-user loss (B,): mean next-item sampled softmax over the user's targets + mean list softmax.

    Every tensor has the user as its first dimension, inside every layer too, which is what Opacus' per-sample
    gradient hooks need.
    """

    def __init__(self, net: RerankerNet, list_weight: float) -> None:
        super().__init__()
        self.net, self.list_weight = net, list_weight

    def forward(self, items, types, gaps, targets, negatives, cand, feats, label, slot, has_list) -> torch.Tensor:
        net = self.net
        h = net.history(net.items(items), items, types, gaps)  # (B, L, D)
        b, _, d = h.shape
        pos = (h * net.items(targets)).sum(-1, keepdim=True)  # (B, L, 1)
        neg = torch.einsum("bld,bmd->blm", h, net.items(negatives))  # (B, L, M)
        neg = neg.masked_fill(negatives[:, None, :] == targets.unsqueeze(-1), -math.inf)
        nll = -torch.log_softmax(torch.cat([pos, neg], -1), -1)[..., 0]  # (B, L)
        is_target = targets > 0
        seq_loss = (nll * is_target).sum(1) / is_target.sum(1).clamp(min=1)

        _, k, n = cand.shape
        state = h.gather(1, slot.unsqueeze(-1).expand(b, k, d))  # (B, K, D)
        user = state.unsqueeze(2).expand(b, k, n, d).reshape(b, k * n, d)
        valid = (cand > 0) & has_list.unsqueeze(-1)  # (B, K, N)
        list_id = torch.arange(k, device=cand.device).repeat_interleave(n)  # (K*N,)
        allowed = (list_id[:, None] == list_id[None, :])[None] & valid.reshape(b, 1, k * n)  # (B, KN, KN)
        allowed = allowed | torch.eye(k * n, dtype=torch.bool, device=cand.device)[None]  # no empty rows
        mask = torch.zeros(allowed.shape, dtype=h.dtype, device=h.device).masked_fill(~allowed, -math.inf)
        mask = mask.repeat_interleave(net.history.n_heads, dim=0)
        scores = net.scorer(user, net.items(cand.reshape(b, k * n)), feats.reshape(b, k * n, -1),
                            valid.reshape(b, k * n), mask=mask).view(b, k, n)
        scores = scores.masked_fill(~valid, -1e9)  # finite: lists that do not exist must not give NaN
        nll_list = F.cross_entropy(scores.reshape(b * k, n), label.reshape(-1), reduction="none").view(b, k)
        list_loss = (nll_list * has_list).sum(1) / has_list.sum(1).clamp(min=1)
        return seq_loss + self.list_weight * list_loss


def _secret_generator() -> torch.Generator:
    return torch.Generator().manual_seed(secrets.randbits(63))


def prepare_private_net(net: RerankerNet) -> RerankerNet:
    """Return the DP copy: Linear-based attention, items = frozen projection of their text, wide path = fused order.

    Freezing the text projection (~25k weights at d_model 64) removes the costliest per-sample gradients
    (one per candidate token) and lets the noise fall on the layers that read the user's history.
    """
    dp = to_private(net)
    with torch.no_grad():
        dp.items.ids.weight.zero_()
        dp.scorer.feature_linear.weight.zero_()
        dp.scorer.feature_linear.weight[0, FUSED_RANK] = PRIOR_WEIGHT
        dp.scorer.out.weight.zero_()
    dp.items.ids.weight.requires_grad_(False)
    dp.items.text_proj.requires_grad_(False)  # a fixed random projection of the public text embeddings
    return dp


def run_delta(config: RerankerConfig, n_users: int) -> float:
    return config.dp_delta or 1.0 / (10 * n_users)


def end_to_end_first_stage(config: RerankerConfig, ds: Dataset, seqs: list[np.ndarray], text_nn,
                           item_embeddings: np.ndarray) -> PrivateFirstStage:
    """Fit the private first stage of an end-to-end run on its share of dp_epsilon (private_first_stage.py)."""
    return fit_private_first_stage(
        config, ds.n_items, [ds.event_items[s] for s in seqs], [ds.timestamps[s] for s in seqs], text_nn,
        item_embeddings,
        epsilon=config.dp_first_stage_share * config.dp_epsilon, delta=run_delta(config, len(seqs)),
    )


def fit_private(config: RerankerConfig, ds: Dataset, seqs: list[np.ndarray], lists, net: RerankerNet,
                device: torch.device, rng: np.random.Generator, validate: Callable[[RerankerNet], float],
                report: Callable[[str, float], None], private_fs: PrivateFirstStage | None = None,
                ) -> tuple[dict[str, torch.Tensor], list[dict], dict]:
    """Train a DP copy of `net` with DP-SGD; return its state (RerankerNet layout), per-epoch history, privacy report.

    `validate(net)` returns validation NDCG@10 for the per-epoch history (reporting only). With `private_fs`
    (end to end), the noise multiplier is set so that the first stage and DP-SGD together spend dp_epsilon,
    and negatives are sampled by the first stage's noisy popularity.
    """
    from opacus import PrivacyEngine, __version__ as opacus_version  # heavy import: only when DP is on

    cap = dp_cap(config)
    samples = user_samples(ds, seqs, lists, config.max_history, cap)
    n_users = len(samples)
    delta = run_delta(config, n_users)
    batch = max(1, min(config.dp_batch_users, n_users))
    dp_net = prepare_private_net(net).to(device)
    if private_fs is not None and config.dp_end_to_end_wide_only:
        # End to end, the full network's noisy steps pulled the ranking below its prior (EXPERIMENTS.md): only the
        # wide path (one weight per first-stage feature) learns, i.e. DP-SGD re-weights the private sources.
        for name, p in dp_net.named_parameters():
            p.requires_grad_(name.startswith("scorer.feature_linear."))
    module = UserLoss(dp_net, config.list_weight)
    optimiser = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=config.dp_lr)
    # Which users a step samples and the noise it adds must be unpredictable: both generators are seeded from
    # the OS's entropy, never from config.seed (a known seed would let anyone subtract the noise).
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n_users)), batch_size=batch,
                                         generator=_secret_generator())
    engine = PrivacyEngine(accountant=config.dp_accountant)
    if private_fs is None:
        module, optimiser, loader = engine.make_private_with_epsilon(
            module=module, optimizer=optimiser, data_loader=loader, target_epsilon=config.dp_epsilon,
            target_delta=delta, epochs=config.dp_epochs, max_grad_norm=config.dp_max_grad_norm, poisson_sampling=True,
            noise_generator=_secret_generator())
        pop = np.bincount(np.concatenate([ds.event_items[s] for s in seqs] or [np.zeros(0, np.int64)]),
                          minlength=ds.n_items).astype(np.float64) + 1.0
    else:  # end to end: sigma from the composition with the first stage; negatives by its noisy popularity
        sample_rate = 1.0 / len(loader)
        sigma = sgd_sigma_for(config.dp_epsilon, delta, first_stage_release(private_fs.sigma), sample_rate,
                              config.dp_epochs * len(loader), config.dp_accountant)
        module, optimiser, loader = engine.make_private(
            module=module, optimizer=optimiser, data_loader=loader, noise_multiplier=sigma,
            max_grad_norm=config.dp_max_grad_norm, poisson_sampling=True, noise_generator=_secret_generator())
        pop = private_fs.popularity.astype(np.float64) + 1.0
    pop /= pop.sum()
    history, steps, rows_seen = [], 0, 0
    t = time.perf_counter()
    quiet = warnings.catch_warnings()
    quiet.__enter__()  # Opacus warns on every step that the loss inputs need no gradient: expected here
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    for epoch in range(1, config.dp_epochs + 1):
        module.train()
        for i, (idx,) in enumerate(loader):
            half = config.n_negatives // 2
            negatives = np.concatenate([rng.integers(0, ds.n_items, (len(idx), half)),
                                        rng.choice(ds.n_items, (len(idx), config.n_negatives - half), p=pop)], 1)
            tensors = [x.to(device) for x in samples.rows(idx)]
            tensors.insert(4, torch.from_numpy(negatives + 1).to(device))
            loss = module(*tensors).mean() if len(idx) else module(*tensors).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            grad_rows = {p.grad_sample.shape[0] for p in module.parameters() if p.requires_grad}
            assert grad_rows == {len(idx)}, "one per-sample gradient row per sampled user"
            rows_seen += len(idx)
            optimiser.step()
            steps += 1
            if i % 5 == 0:
                report(f"DP training epoch {epoch}/{config.dp_epochs}", i / max(1, len(loader)))
        # Validation costs a full scoring pass: only after the last epoch (reported, never used to select).
        history.append({"epoch": epoch, "seconds": time.perf_counter() - t,
                        **({"val_ndcg@10": validate(dp_net)} if epoch == config.dp_epochs else {})})
    quiet.__exit__(None, None, None)
    spent = float(engine.get_epsilon(delta))
    sgd = {"kind": "subsampled_gaussian", "noise_multiplier": float(optimiser.noise_multiplier),
           "sample_rate": 1.0 / len(loader), "steps": steps}
    module.remove_hooks() if hasattr(module, "remove_hooks") else None
    for p in dp_net.parameters():
        p.grad_sample = None
    privacy = {"mechanism": f"DP-SGD (Opacus {opacus_version}, per-user clipping, Poisson sampling of users, "
                            f"{config.dp_accountant.upper()} accountant)",
               "target_epsilon": config.dp_epsilon, "epsilon": spent, "delta": delta,
               "noise_multiplier": float(optimiser.noise_multiplier), "max_grad_norm": config.dp_max_grad_norm,
               "sample_rate": 1.0 / len(loader), "steps": steps, "epochs": config.dp_epochs,
               "users": n_users, "max_examples_per_user": cap, "per_sample_gradient_rows": rows_seen,
               "trainable_parameters": sum(p.numel() for p in dp_net.parameters() if p.requires_grad),
               "mode": "network", "components": [sgd]}
    if private_fs is not None:  # the whole run: first stage and DP-SGD composed (private_first_stage.run_epsilon)
        first = first_stage_release(private_fs.sigma)
        whole = run_epsilon([*first.components, sgd], delta, config.dp_accountant)  # = target
        privacy.update({"mode": "end_to_end", "network_epsilon": spent, "epsilon": whole,
                        "accountant": "exact Gaussian + PRV" if config.dp_accountant == "prv" else "RDP",
                        "mechanism": privacy["mechanism"] + "; first stage: " + private_fs.report["mechanism"],
                        "first_stage": private_fs.report, "components": [*first.components, sgd]})
    return standard_state(dp_net), history, privacy
