"""Training losses on the (N, d) representations: BPR with LightGCN's L2."""
import torch.nn.functional as F


def bpr_loss(representations, embedding, users, positives, negatives, n_users, l2):
    """BPR loss plus LightGCN's L2 on the batch's layer-0 embeddings.

    representations (N, d) final user/item vectors (users first); embedding (N, d) layer 0;
    users / positives / negatives (B,) indices (items counted from 0).
    Returns (total loss, BPR part).
    """
    u = representations[users]
    pos = representations[positives + n_users]
    neg = representations[negatives + n_users]
    bpr = F.softplus((u * neg).sum(1) - (u * pos).sum(1)).mean()
    e_u, e_p, e_n = embedding[users], embedding[positives + n_users], embedding[negatives + n_users]
    reg = 0.5 * (e_u.pow(2).sum() + e_p.pow(2).sum() + e_n.pow(2).sum()) / len(users)
    return bpr + l2 * reg, bpr
