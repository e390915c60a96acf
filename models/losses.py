"""Training losses on the (N, d) representations, chosen by ``--loss``:

- ``bpr``: -log σ(u·p - u·n) with one uniform negative per positive (LightGCN);
- ``softmax``: sampled softmax, -log of the positive's softmax among itself and M uniform
  negatives shared by the batch, logits u·v / τ (Wu et al., "On the Effectiveness of Sampled
  Softmax Loss for Item Recommendation"). With uniform negatives the log-Q correction is a
  constant and cancels, so none is applied;
- ``ccl``: SimpleX's cosine contrastive loss, (1 - cos(u, p)) + w · mean_j max(0, cos(u, n_j) - m)
  over the M shared negatives (Mao et al. 2021).

With shared negatives, a negative that is the row's own positive item is masked. Every loss adds
LightGCN's L2: l2 · ½ (‖e_u‖² + ‖e_p‖² + ‖e_n‖²) / B on the layer-0 embeddings of the batch's
users, positives and negatives.

Rows are gathered with ``index_select``: its backward (``index_add_``) sums repeated rows in a
fixed order, where the backward of ``x[idx]`` on the CPU accumulates them in parallel, in an
order that changes from run to run.
"""
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option


def bpr(u, pos, neg):
    """u, pos, neg (B, d) -> mean BPR loss."""
    return F.softplus((u * neg).sum(1) - (u * pos).sum(1)).mean()


class _SampledSoftmax(torch.autograd.Function):
    """mean_b [logsumexp(s_bp, s_b1 .. s_bM) - s_bp], s = u·v / τ, hits masked. Rows are taken
    in chunks and backward recomputes a chunk's logits, so no (B, M) tensor outlives a chunk:
    the unfused version allocates several, and on a CPU those allocations cost more than the
    matrix products themselves."""

    @staticmethod
    def forward(ctx, u, pos, neg, hit_rows, hit_cols, temperature, chunk):
        total, lse = u.new_zeros(()), u.new_empty(len(u))
        for rows in _chunks(len(u), chunk):
            logits, s_pos = _chunk_logits(u, pos, neg, hit_rows, hit_cols, temperature, rows)
            lse[rows] = torch.logaddexp(s_pos, torch.logsumexp(logits, 1))
            total += (lse[rows] - s_pos).sum()
        ctx.save_for_backward(u, pos, neg, hit_rows, hit_cols, lse)
        ctx.temperature, ctx.chunk = temperature, chunk
        return total / len(u)

    @staticmethod
    def backward(ctx, grad):
        u, pos, neg, hit_rows, hit_cols, lse = ctx.saved_tensors
        t, scale = ctx.temperature, grad / len(u)
        grad_u, grad_pos, grad_neg = torch.empty_like(u), torch.empty_like(pos), torch.zeros_like(neg)
        for rows in _chunks(len(u), ctx.chunk):
            logits, s_pos = _chunk_logits(u, pos, neg, hit_rows, hit_cols, t, rows)
            weights = logits.sub_(lse[rows, None]).exp_().mul_(scale / t)   # d loss / d (u·n)
            pos_weight = ((s_pos - lse[rows]).exp() - 1) * (scale / t)      # d loss / d (u·p)
            grad_u[rows] = weights @ neg + pos_weight[:, None] * pos[rows]
            grad_pos[rows] = pos_weight[:, None] * u[rows]
            grad_neg.addmm_(weights.t(), u[rows])
        return grad_u, grad_pos, grad_neg, None, None, None, None


def _chunks(n, chunk):
    return [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def _chunk_logits(u, pos, neg, hit_rows, hit_cols, temperature, rows):
    """(the chunk's negative logits (c, M) with hits at -inf, its positive logits (c,))."""
    u_rows = u[rows] / temperature
    logits = u_rows @ neg.t()
    in_chunk = (hit_rows >= rows.start) & (hit_rows < rows.stop)
    logits[hit_rows[in_chunk] - rows.start, hit_cols[in_chunk]] = -torch.inf
    return logits, (u_rows * pos[rows]).sum(1)


def hits(positive_ids, negative_ids):
    """(rows, cols) where positive_ids[rows] == negative_ids[cols]: the few negatives that are
    the row's own positive, found without comparing all B x M pairs."""
    sorted_ids, order = negative_ids.sort()
    left = torch.searchsorted(sorted_ids, positive_ids)
    counts = torch.searchsorted(sorted_ids, positive_ids, right=True) - left
    rows = torch.repeat_interleave(torch.arange(len(positive_ids), device=counts.device), counts)
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    return rows, order[left[rows] + torch.arange(len(rows), device=rows.device) - first]


def sampled_softmax(u, pos, neg, positive_ids, negative_ids, temperature, chunk=1024):
    """u, pos (B, d), neg (M, d) shared; a negative whose id equals the row's positive id is
    masked."""
    return _SampledSoftmax.apply(u, pos, neg, *hits(positive_ids, negative_ids), temperature,
                                 chunk)


class _HingeSums(torch.autograd.Function):
    """Per row b: Σ_j max(0, u_b·n_j - margin) over the shared negatives, hits left out; in
    row chunks, backward recomputing a chunk's products (as _SampledSoftmax)."""

    @staticmethod
    def forward(ctx, u, neg, hit_rows, hit_cols, margin, chunk):
        sums = u.new_empty(len(u))
        for rows in _chunks(len(u), chunk):
            sums[rows] = _chunk_hinges(u, neg, hit_rows, hit_cols, margin, rows).sum(1)
        ctx.save_for_backward(u, neg, hit_rows, hit_cols)
        ctx.margin, ctx.chunk = margin, chunk
        return sums

    @staticmethod
    def backward(ctx, grad):
        u, neg, hit_rows, hit_cols = ctx.saved_tensors
        grad_u, grad_neg = torch.empty_like(u), torch.zeros_like(neg)
        for rows in _chunks(len(u), ctx.chunk):
            active = _chunk_hinges(u, neg, hit_rows, hit_cols, ctx.margin, rows) > 0
            weights = active.to(u.dtype).mul_(grad[rows, None])
            grad_u[rows] = weights @ neg
            grad_neg.addmm_(weights.t(), u[rows])
        return grad_u, grad_neg, None, None, None, None


def _chunk_hinges(u, neg, hit_rows, hit_cols, margin, rows):
    hinges = (u[rows] @ neg.t()).sub_(margin).clamp_(min=0)
    in_chunk = (hit_rows >= rows.start) & (hit_rows < rows.stop)
    hinges[hit_rows[in_chunk] - rows.start, hit_cols[in_chunk]] = 0.0
    return hinges


def cosine_contrastive(u, pos, neg, positive_ids, negative_ids, margin, negative_weight,
                       chunk=1024):
    """SimpleX's CCL; u, pos (B, d), neg (M, d) shared; hits masked as in sampled_softmax."""
    u, pos, neg = (F.normalize(x, dim=1) for x in (u, pos, neg))
    hinge = _HingeSums.apply(u, neg, *hits(positive_ids, negative_ids), margin, chunk)
    return (1 - (u * pos).sum(1) + negative_weight * hinge / len(neg)).mean()


def _bpr_term(loss, u, pos, neg, positive_ids, negative_ids):
    return bpr(u, pos, neg)


def _softmax_term(loss, u, pos, neg, positive_ids, negative_ids):
    return sampled_softmax(u, pos, neg, positive_ids, negative_ids, loss.temperature)


def _ccl_term(loss, u, pos, neg, positive_ids, negative_ids):
    return cosine_contrastive(u, pos, neg, positive_ids, negative_ids, loss.margin,
                              loss.negative_weight)


# the losses by name: (the main term of a batch, whether its negatives are shared by the batch).
# A new loss is a function here and its options in LossOptions.
LOSSES = {"bpr": (_bpr_term, False), "softmax": (_softmax_term, True), "ccl": (_ccl_term, True)}


@dataclass
class LossOptions:
    """The loss and its options (training settings; flags --loss, --negatives, ...)."""
    loss: Optional[str] = option(
        None, "softmax: sampled softmax over --negatives shared negatives; bpr: one negative "
              "per positive (LightGCN's loss); ccl: SimpleX's cosine contrastive loss",
        choices=tuple(LOSSES), default_help="softmax to retrain, bpr to search, each chosen on "
                                            "validation on ml-100k and Gowalla; see the README")
    negatives: int = option(1024, "softmax / ccl: uniform negatives shared by each batch")
    temperature: float = option(1.0, "softmax: logits are scores / temperature")
    margin: float = option(0.5, "ccl: cosine margin below which negatives cost nothing")
    negative_weight: float = option(1.0, "ccl: weight of the negatives' term")


@dataclass
class Loss:
    """A training loss with its settings; called on a batch from ``BPRSampler.batches(...,
    shared_negatives=loss.shared_negatives)`` (``loss.on(reps, embedding, batch, n_users)``).
    ``Loss.of(config.train)`` is how runs build it (the defaults are ``LossOptions``')."""
    name: str
    l2: float = 1e-4
    negatives: int = LossOptions.negatives
    temperature: float = LossOptions.temperature
    margin: float = LossOptions.margin
    negative_weight: float = LossOptions.negative_weight

    def __post_init__(self):
        if self.name not in LOSSES:
            raise ConfigError(f"unknown loss {self.name!r}; choose one of {', '.join(LOSSES)}")
        if self.negatives < 1:
            raise ConfigError(f"--negatives must be at least 1, got {self.negatives}")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be positive, got {self.temperature}")

    @classmethod
    def of(cls, train_config, search=False):
        """The loss a run trains with. Without --loss: sampled softmax for standalone training
        and BPR for the supernet search, each the one that won on validation (ml-100k, Gowalla;
        README, "Losses")."""
        t = train_config
        name = t.loss or ("bpr" if search else "softmax")
        return cls(name, t.l2, t.negatives, t.temperature, t.margin, t.negative_weight)

    @property
    def shared_negatives(self):
        """M for the sampler: 0 (one negative per row) for BPR."""
        return self.negatives if LOSSES[self.name][1] else 0

    def __call__(self, representations, embedding, users, positives, negatives, n_users,
                 batch_rows=None):
        """(loss with L2, loss without) of a batch; representations and embedding (N, d), users
        first; users / positives (B,), negatives (B,) for BPR or (M,) shared; items from 0.

        ``batch_rows``: the batch's rows over all processes when these B rows are one process's
        part (default B). The shared negatives' L2 is then weighted by B / batch_rows, so that
        the processes' row-weighted mean is one process's loss on the whole batch; a process
        with no rows has loss 0 (still a function of the parameters, for backward)."""
        if not len(users):
            zero = representations.sum() * 0
            return zero, zero
        positives, negatives = positives + n_users, negatives + n_users
        u, pos, neg = (representations.index_select(0, i) for i in (users, positives, negatives))
        main = LOSSES[self.name][0](self, u, pos, neg, positives, negatives)
        e_u, e_p, e_n = (embedding.index_select(0, i) for i in (users, positives, negatives))
        negatives_l2 = e_n.pow(2).sum()
        if self.shared_negatives and batch_rows is not None and batch_rows != len(users):
            negatives_l2 = negatives_l2 * (len(users) / batch_rows)
        reg = 0.5 * (e_u.pow(2).sum() + e_p.pow(2).sum() + negatives_l2) / len(users)
        return main + self.l2 * reg, main

    def on(self, representations, embedding, batch, n_users):
        """The loss of a ``data.sampler.Batch`` (this process's rows of it)."""
        return self(representations, embedding, batch.users, batch.positives, batch.negatives,
                    n_users, batch.rows)
