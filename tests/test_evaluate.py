"""Full-ranking metrics against a naive per-user Python reference."""
import math

import numpy as np
import pytest
import torch

from recnas.evaluation.metrics import RankingEvaluator


def naive_metrics(scores, heldout, exclude, ks):
    by_user = {}
    for u, i in heldout:
        by_user.setdefault(u, set()).add(i)
    masked = {}
    for u, i in exclude:
        masked.setdefault(u, set()).add(i)
    totals = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "precision", "hit", "f1")}
    for u, relevant in by_user.items():
        ranked = [i for i in np.argsort(-scores[u], kind="stable") if i not in masked.get(u, ())]
        for k in ks:
            top = ranked[:k]
            hits = [1.0 if i in relevant else 0.0 for i in top]
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
            totals[f"recall@{k}"] += sum(hits) / len(relevant)
            totals[f"precision@{k}"] += sum(hits) / k
            totals[f"hit@{k}"] += float(sum(hits) > 0)
            totals[f"ndcg@{k}"] += dcg / idcg
            p, r = sum(hits) / k, sum(hits) / len(relevant)
            totals[f"f1@{k}"] += 2 * p * r / (p + r) if p + r else 0.0
    return {name: total / len(by_user) for name, total in totals.items()}, len(by_user)


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_matches_naive_reference(chunk_size):
    rng = np.random.default_rng(0)
    n_users, n_items, d = 17, 25, 4
    user_emb, item_emb = rng.normal(size=(n_users, d)), rng.normal(size=(n_items, d))
    cells = rng.permutation(n_users * n_items)
    train = np.stack(np.divmod(cells[:120], n_items), 1)
    heldout = np.stack(np.divmod(cells[120:170], n_items), 1)
    heldout = heldout[heldout[:, 0] != 5]          # user 5: no held-out items, not averaged
    heldout = np.concatenate([heldout, [[6, i] for i in range(n_items) if (6, i) not in
                                        set(map(tuple, train))]])  # more held-out than K
    ks = (1, 3, 10, 20)
    evaluator = RankingEvaluator(heldout, [train], n_users, n_items, ks=ks, chunk_size=chunk_size)
    got = evaluator(torch.tensor(user_emb), torch.tensor(item_emb))
    want, n = naive_metrics(user_emb @ item_emb.T, heldout, train, ks)
    assert got["users"] == n
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_several_exclusions_are_masked():
    user_emb = torch.eye(2, dtype=torch.float64)
    item_emb = torch.tensor([[3.0, 0], [2, 0], [1, 0]], dtype=torch.float64)
    # user 0 prefers item 0 > 1 > 2; items 0 (train) and 1 (val) are masked, so item 2 is first
    evaluator = RankingEvaluator([[0, 2]], [np.array([[0, 0]]), np.array([[0, 1]])], 2, 3, ks=(1,))
    assert evaluator(user_emb, item_emb)["recall@1"] == 1.0
