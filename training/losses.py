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

import torch
import torch.nn.functional as F

from runtime.errors import ConfigError

LOSSES = ("bpr", "softmax", "ccl")


def bpr(u, pos, neg):
    """u, pos, neg (B, d) -> mean BPR loss."""
    return F.softplus((u * neg).sum(1) - (u * pos).sum(1)).mean()


def sampled_softmax(u, pos, neg, hit, temperature):
    """u, pos (B, d), neg (M, d) shared; hit (B, M) marks a negative equal to the row's positive."""
    positive = (u * pos).sum(1, keepdim=True) / temperature
    negative = (u @ neg.t() / temperature).masked_fill(hit, -torch.inf)
    return (torch.logsumexp(torch.cat([positive, negative], 1), 1) - positive[:, 0]).mean()


def cosine_contrastive(u, pos, neg, hit, margin, negative_weight):
    """SimpleX's CCL; u, pos (B, d), neg (M, d) shared; hit (B, M) as for sampled_softmax."""
    u, pos, neg = (F.normalize(x, dim=1) for x in (u, pos, neg))
    negative = F.relu(u @ neg.t() - margin).masked_fill(hit, 0.0).mean(1)
    return (1 - (u * pos).sum(1) + negative_weight * negative).mean()


@dataclass
class Loss:
    """A training loss with its settings; called on a batch from ``BPRSampler.batches(...,
    shared_negatives=loss.shared_negatives)``."""
    name: str = "bpr"
    l2: float = 1e-4
    negatives: int = 1024          # shared negatives per batch (softmax, ccl)
    temperature: float = 0.1       # softmax
    margin: float = 0.5            # ccl
    negative_weight: float = 1.0   # ccl

    def __post_init__(self):
        if self.name not in LOSSES:
            raise ConfigError(f"unknown loss {self.name!r}; choose one of {', '.join(LOSSES)}")
        if self.negatives < 1:
            raise ConfigError(f"--negatives must be at least 1, got {self.negatives}")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be positive, got {self.temperature}")

    @classmethod
    def of(cls, train_config):
        t = train_config
        return cls(t.loss, t.l2, t.negatives, t.temperature, t.margin, t.negative_weight)

    @property
    def shared_negatives(self):
        """M for the sampler: 0 (one negative per row) for BPR."""
        return 0 if self.name == "bpr" else self.negatives

    def __call__(self, representations, embedding, users, positives, negatives, n_users):
        """(loss with L2, loss without) of a batch; representations and embedding (N, d), users
        first; users / positives (B,), negatives (B,) for BPR or (M,) shared; items from 0."""
        positives, negatives = positives + n_users, negatives + n_users
        u, pos, neg = (representations.index_select(0, i) for i in (users, positives, negatives))
        if self.name == "bpr":
            main = bpr(u, pos, neg)
        else:
            hit = positives[:, None] == negatives[None, :]
            main = sampled_softmax(u, pos, neg, hit, self.temperature) if self.name == "softmax" \
                else cosine_contrastive(u, pos, neg, hit, self.margin, self.negative_weight)
        e_u, e_p, e_n = (embedding.index_select(0, i) for i in (users, positives, negatives))
        reg = 0.5 * (e_u.pow(2).sum() + e_p.pow(2).sum() + e_n.pow(2).sum()) / len(users)
        return main + self.l2 * reg, main

