"""Training losses on the (N, d) representations: BPR with LightGCN's L2.

Rows are gathered with ``index_select``: its backward (``index_add_``) sums repeated rows in a
fixed order, where the backward of ``x[idx]`` on the CPU accumulates them in parallel, in an
order that changes from run to run."""
import torch.nn.functional as F


def bpr_loss(representations, embedding, users, positives, negatives, n_users, l2):
    """BPR loss plus LightGCN's L2 on the batch's layer-0 embeddings.

    representations (N, d) final user/item vectors (users first); embedding (N, d) layer 0;
    users / positives / negatives (B,) indices (items counted from 0).
    Returns (total loss, BPR part).
    """
    positives, negatives = positives + n_users, negatives + n_users
    u, pos, neg = (representations.index_select(0, i) for i in (users, positives, negatives))
    bpr = F.softplus((u * neg).sum(1) - (u * pos).sum(1)).mean()
    e_u, e_p, e_n = (embedding.index_select(0, i) for i in (users, positives, negatives))
    reg = 0.5 * (e_u.pow(2).sum() + e_p.pow(2).sum() + e_n.pow(2).sum()) / len(users)
    return bpr + l2 * reg, bpr
