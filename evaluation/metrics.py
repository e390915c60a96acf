"""Full-ranking evaluation with LightGCN's metric definitions.

For each user with held-out items: score every item, mask the items in ``exclude`` (the user's
training items, plus validation items when scoring test), take the top K and compute
Recall@K = hits / |held-out|, Precision@K = hits / K, HitRate@K = [hits > 0], NDCG@K with
binary relevance and IDCG over min(K, |held-out|), and F1@K = 2 P R / (P + R) of the user's own
precision and recall (0 without hits); each averaged over those users.

Ranking itself (``Ranker``) is shared with recommend.py, so the lists a user is served are the
lists that were scored. Users without training interactions ("cold": their vectors never
trained) can be ranked by a fallback score per item, e.g. training popularity.
"""
import numpy as np
import torch

from recnas.data.interactions import pairs_to_csr
from recnas.runtime import distributed

METRICS = ("recall", "ndcg", "precision", "hit", "f1")


def _csr_tensors(pairs, n_users, device):
    indptr, items = pairs_to_csr(pairs, n_users)
    return torch.from_numpy(indptr).to(device), torch.from_numpy(items).to(device)


def _rows_of(indptr, indices, users):
    """Entries of CSR rows ``users`` as (position in ``users``, column) tensors."""
    starts = indptr[users]
    counts = indptr[users + 1] - starts
    position = torch.repeat_interleave(torch.arange(len(users), device=users.device), counts)
    first = torch.cumsum(counts, 0) - counts
    offsets = torch.arange(int(counts.sum()), device=users.device) - first[position]
    return position, indices[starts[position] + offsets]


class Ranker:
    """Top-k items per user by dot product, with per-user excluded items masked.

    exclude: list of (n, 2) [user, item] arrays never ranked; cold_users: optional bool (n_users,)
    whose rows are scored by ``fallback`` (n_items,) instead of the model.
    """

    def __init__(self, exclude, n_users, n_items, chunk_size=1024, device="cpu",
                 cold_users=None, fallback=None):
        self.n_items, self.chunk_size, self.device = n_items, chunk_size, torch.device(device)
        exclude = np.concatenate([np.asarray(e, dtype=np.int64).reshape(-1, 2) for e in exclude]
                                 or [np.zeros((0, 2), np.int64)])
        self.exclude_indptr, self.exclude_items = _csr_tensors(exclude, n_users, self.device)
        self.cold_users = None if cold_users is None else \
            torch.as_tensor(cold_users, dtype=torch.bool, device=self.device)
        self.fallback = None if fallback is None else \
            torch.as_tensor(fallback, device=self.device)

    def chunks(self, user_emb, item_emb, users, k):
        """Yield (users, top item ids (B, k), top scores (B, k)) per chunk of ``users``."""
        k = min(k, self.n_items)
        item_t = item_emb.t()
        for start in range(0, len(users), self.chunk_size):
            chunk = users[start:start + self.chunk_size]
            scores = user_emb[chunk] @ item_t
            if self.cold_users is not None:
                cold = self.cold_users[chunk]
                scores[cold] = self.fallback.to(scores.dtype)
            position, items = _rows_of(self.exclude_indptr, self.exclude_items, chunk)
            scores[position, items] = -torch.inf
            top = scores.topk(k, dim=1)
            yield chunk, top.indices, top.values


class RankingEvaluator:
    """Scores one held-out split. Built once (index tensors live on ``device``), called per epoch.
    Under several processes each scores every n-th user and the sums are added up."""

    def __init__(self, heldout, exclude, n_users, n_items, ks=(20,), chunk_size=1024,
                 device="cpu", cold_users=None, fallback=None):
        """``heldout``: (n, 2) [user, item] pairs to find; ``exclude``: list of such arrays to mask."""
        self.n_items = n_items
        self.ks = sorted(set(int(k) for k in ks))
        self.device = torch.device(device)
        self.ranker = Ranker(exclude, n_users, n_items, chunk_size, device, cold_users, fallback)
        heldout = np.asarray(heldout, dtype=np.int64).reshape(-1, 2)
        keys = np.unique(heldout[:, 0] * n_items + heldout[:, 1])
        self.heldout_keys = torch.from_numpy(keys).to(self.device)
        counts = np.bincount(keys // n_items, minlength=n_users)
        self.users = torch.from_numpy(np.flatnonzero(counts)).to(self.device)
        self.heldout_counts = torch.from_numpy(counts).to(self.device)

    @torch.no_grad()
    def __call__(self, user_emb, item_emb):
        """Scores are dot products of ``user_emb`` (n_users, d) and ``item_emb`` (n_items, d)."""
        k_max = min(self.ks[-1], self.n_items)
        discount = 1.0 / torch.log2(torch.arange(2, k_max + 2, device=self.device,
                                                 dtype=torch.float64))
        ideal = torch.cumsum(discount, 0)
        sums = {f"{m}@{k}": 0.0 for k in self.ks for m in METRICS}
        own_users = self.users[distributed.rank()::distributed.world_size()]
        for users, top, _ in self.ranker.chunks(user_emb, item_emb, own_users, k_max):
            keys = users[:, None] * self.n_items + top
            found = torch.searchsorted(self.heldout_keys, keys).clamp_max(len(self.heldout_keys) - 1)
            hits = (self.heldout_keys[found] == keys).double()
            n_heldout = self.heldout_counts[users].double()
            for k in self.ks:
                k_eff = min(k, k_max)
                n_hits = hits[:, :k_eff].sum(1)
                dcg = (hits[:, :k_eff] * discount[:k_eff]).sum(1)
                idcg = ideal[n_heldout.clamp_max(k_eff).long() - 1]
                recall, precision = n_hits / n_heldout, n_hits / k
                f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-300)
                sums[f"recall@{k}"] += recall.sum().item()
                sums[f"precision@{k}"] += precision.sum().item()
                sums[f"hit@{k}"] += (n_hits > 0).double().sum().item()
                sums[f"ndcg@{k}"] += (dcg / idcg).sum().item()
                sums[f"f1@{k}"] += f1.sum().item()
        totals = distributed.sum_over_processes(list(sums.values()), self.device)
        n = max(len(self.users), 1)
        metrics = {name: total / n for name, total in zip(sums, totals)}
        metrics["users"] = len(self.users)
        return metrics


def cold_start(data):
    """(users with no training or validation interaction, float item popularity in them)."""
    seen = np.concatenate([data.train, data.val])
    cold = np.bincount(seen[:, 0], minlength=data.n_users) == 0
    popularity = np.bincount(seen[:, 1], minlength=data.n_items).astype(np.float32)
    return cold, popularity


def score_test(reps, data, config, device):
    """Test metrics of representations (N, d), users first: training and validation items
    masked, users without either ranked by popularity, as recommend.py serves them. Every mode
    scores test with this, once, at the end of a run; None for data without a test split."""
    if not len(data.test):
        return None
    cold, popularity = cold_start(data)
    evaluator = RankingEvaluator(data.test, [data.train, data.val], data.n_users, data.n_items,
                                 config.topk, config.eval_chunk_size, device, cold, popularity)
    return evaluator(reps[:data.n_users], reps[data.n_users:])
