"""The training losses against naive per-example loops, gradcheck, the shared-negative
sampler and bad values (exact resume of a run that uses them: tests/test_genotype.py)."""
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recnas.data.sampler import BPRSampler
from recnas.app.config import RunConfig
from recnas.runtime.errors import ConfigError
from recnas.models.losses import Loss

ROOT = Path(__file__).resolve().parent.parent
N_USERS, N_ITEMS, DIM = 5, 9, 4


def batch(shared, seed=0):
    g = torch.Generator().manual_seed(seed)
    reps = torch.randn(N_USERS + N_ITEMS, DIM, dtype=torch.float64, generator=g)
    emb = torch.randn(N_USERS + N_ITEMS, DIM, dtype=torch.float64, generator=g)
    users = torch.tensor([0, 1, 1, 3, 4, 0])
    positives = torch.tensor([2, 5, 0, 8, 2, 7])
    negatives = torch.tensor([2, 4, 6, 5]) if shared else torch.tensor([1, 3, 4, 0, 6, 8])
    return reps, emb, users, positives, negatives


def naive(loss, reps, emb, users, positives, negatives):
    """The loss written out per example, with plain Python arithmetic."""
    v = lambda node: reps[node].tolist()
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    cos = lambda a, b: dot(a, b) / math.sqrt(dot(a, a) * dot(b, b))
    total = 0.0
    for row, (u, p) in enumerate(zip(users.tolist(), positives.tolist())):
        eu, ep = v(u), v(N_USERS + p)
        if loss.name == "bpr":
            en = v(N_USERS + negatives[row].item())
            total += math.log(1 + math.exp(dot(eu, en) - dot(eu, ep)))
            continue
        others = [v(N_USERS + n) for n in negatives.tolist() if n != p]
        if loss.name == "softmax":
            t = loss.temperature
            z = math.exp(dot(eu, ep) / t) + sum(math.exp(dot(eu, en) / t) for en in others)
            total += -math.log(math.exp(dot(eu, ep) / t) / z)
        else:
            hinge = sum(max(0.0, cos(eu, en) - loss.margin) for en in others)
            total += 1 - cos(eu, ep) + loss.negative_weight * hinge / len(negatives)
    rows = (list(zip(users.tolist(), positives.tolist(), negatives.tolist()))
            if loss.name == "bpr" else None)
    squares = lambda node: dot(emb[node].tolist(), emb[node].tolist())
    if rows:
        reg = sum(squares(u) + squares(N_USERS + p) + squares(N_USERS + n) for u, p, n in rows)
    else:
        reg = sum(squares(u) + squares(N_USERS + p) for u, p in zip(users.tolist(),
                                                                     positives.tolist()))
        reg += sum(squares(N_USERS + n) for n in negatives.tolist())
    return total / len(users) + loss.l2 * 0.5 * reg / len(users), total / len(users)


LOSSES = [Loss("bpr", l2=0.01), Loss("softmax", l2=0.01, temperature=0.2),
          Loss("ccl", l2=0.01, margin=0.1, negative_weight=2.0)]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.name)
def test_loss_equals_the_naive_loop(loss):
    inputs = batch(shared=loss.name != "bpr")
    total, main = loss(*inputs, N_USERS)
    want_total, want_main = naive(loss, *inputs)
    assert main.item() == pytest.approx(want_main, rel=1e-12)
    assert total.item() == pytest.approx(want_total, rel=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.name)
def test_gradcheck(loss):
    reps, emb, users, positives, negatives = batch(shared=loss.name != "bpr")
    assert torch.autograd.gradcheck(
        lambda r, e: loss(r, e, users, positives, negatives, N_USERS)[0],
        (reps.requires_grad_(), emb.requires_grad_()))


@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.name)
def test_row_weighted_parts_of_a_batch_give_the_whole_batch_loss_and_gradient(loss):
    """What several processes compute: each its part of the batch's rows (one part empty), the
    losses weighted by their share of the rows and summed (runtime.distributed.average)."""
    reps, emb, users, positives, negatives = batch(shared=loss.name != "bpr")
    reps.requires_grad_(), emb.requires_grad_()
    whole = loss(reps, emb, users, positives, negatives, N_USERS)[0]
    want = torch.autograd.grad(whole, (reps, emb))
    total, rows = 0, len(users)
    for part in (slice(0, 0), slice(0, 4), slice(4, 6)):
        part_negatives = negatives if loss.name != "bpr" else negatives[part]
        part_loss = loss(reps, emb, users[part], positives[part], part_negatives, N_USERS,
                         batch_rows=rows)[0]
        total = total + part_loss * (len(users[part]) / rows)
    assert total.item() == pytest.approx(whole.item(), rel=1e-12)
    for got, expected in zip(torch.autograd.grad(total, (reps, emb)), want):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)


def test_a_negative_equal_to_the_positive_is_masked():
    reps, emb, users, positives, _ = batch(shared=True)
    loss = Loss("softmax", l2=0.0)
    with_hit = loss(reps, emb, users[:1], positives[:1], torch.tensor([2, 4]), N_USERS)[1]
    without = loss(reps, emb, users[:1], positives[:1], torch.tensor([4]), N_USERS)[1]
    assert with_hit.item() == pytest.approx(without.item(), rel=1e-12)    # row 0's positive is 2


@pytest.mark.parametrize("settings, message", [(dict(name="hinge"), "unknown loss"),
                                               (dict(negatives=0), "--negatives"),
                                               (dict(temperature=0.0), "--temperature"),
                                               (dict(temperature=-1.0), "--temperature")])
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        Loss(**{"name": "softmax", **settings})


@pytest.mark.parametrize("flags, phrase", [(["--loss", "hinge"], "--loss"),
                                           (["--loss", "softmax", "--negatives", "0"],
                                            "--negatives"),
                                           (["--loss", "softmax", "--temperature", "0"],
                                            "--temperature")])
def test_bad_loss_flags_are_one_line(tmp_path, flags, phrase):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *flags, "--device", "cpu",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert phrase in proc.stderr and not (tmp_path / "run").exists()


def test_shared_negatives_cover_the_epoch_and_repeat_with_the_seed():
    rng = np.random.default_rng(0)
    pairs = np.unique(np.stack([rng.integers(0, 20, 150), rng.integers(0, 30, 150)], 1), axis=0)
    epochs = []
    for _ in range(2):
        sampler = BPRSampler(pairs, 20, 30, seed=[7, 1])
        epochs.append(list(sampler.batches(16, shared_negatives=5)))
    for (u, p, n, _), (u2, p2, n2, _) in zip(*epochs):
        assert torch.equal(u, u2) and torch.equal(p, p2) and torch.equal(n, n2)
        assert n.shape == (5,) and len(u) == len(p) <= 16 and n.max() < 30
    seen = sorted(zip(torch.cat([b[0] for b in epochs[0]]).tolist(),
                      torch.cat([b[1] for b in epochs[0]]).tolist()))
    assert seen == sorted(map(tuple, pairs.tolist()))


def test_fused_sampled_softmax_equals_autograd_in_any_chunking():
    from recnas.models.losses import sampled_softmax
    g = torch.Generator().manual_seed(1)
    u, pos, neg = (torch.randn(n, 6, dtype=torch.float64, generator=g, requires_grad=True)
                   for n in (10, 10, 7))
    positive_ids = torch.randint(0, 5, (10,), generator=g)
    negative_ids = torch.randint(0, 5, (7,), generator=g)      # many hits
    hit = positive_ids[:, None] == negative_ids[None, :]
    s_pos = (u * pos).sum(1, keepdim=True) / 0.3
    s_neg = (u @ neg.t() / 0.3).masked_fill(hit, -torch.inf)
    want = (torch.logsumexp(torch.cat([s_pos, s_neg], 1), 1) - s_pos[:, 0]).mean()
    want_grads = torch.autograd.grad(want, (u, pos, neg))
    for chunk in (1, 3, 1024):
        got = sampled_softmax(u, pos, neg, positive_ids, negative_ids, 0.3, chunk)
        assert got.item() == pytest.approx(want.item(), rel=1e-12)
        for a, b in zip(torch.autograd.grad(got, (u, pos, neg)), want_grads):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_hits_are_every_matching_pair():
    from recnas.models.losses import hits
    positive_ids = torch.tensor([3, 1, 3, 7, 0])
    negative_ids = torch.tensor([3, 5, 3, 0, 9])
    rows, cols = hits(positive_ids, negative_ids)
    want = {(r, c) for r in range(5) for c in range(5) if positive_ids[r] == negative_ids[c]}
    assert set(zip(rows.tolist(), cols.tolist())) == want and len(rows) == len(want)


def test_fused_ccl_equals_autograd_in_any_chunking():
    from recnas.models.losses import cosine_contrastive
    g = torch.Generator().manual_seed(2)
    u, pos, neg = (torch.randn(n, 6, dtype=torch.float64, generator=g, requires_grad=True)
                   for n in (10, 10, 7))
    positive_ids = torch.randint(0, 5, (10,), generator=g)
    negative_ids = torch.randint(0, 5, (7,), generator=g)
    hit = positive_ids[:, None] == negative_ids[None, :]
    un, pn, nn_ = (torch.nn.functional.normalize(x, dim=1) for x in (u, pos, neg))
    hinge = torch.relu(un @ nn_.t() - 0.1).masked_fill(hit, 0.0).mean(1)
    want = (1 - (un * pn).sum(1) + 2.0 * hinge).mean()
    want_grads = torch.autograd.grad(want, (u, pos, neg))
    for chunk in (1, 4, 1024):
        got = cosine_contrastive(u, pos, neg, positive_ids, negative_ids, 0.1, 2.0, chunk)
        assert got.item() == pytest.approx(want.item(), rel=1e-12)
        for a, b in zip(torch.autograd.grad(got, (u, pos, neg)), want_grads):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_unset_loss_is_softmax_to_retrain_and_bpr_to_search():
    unset = RunConfig.from_flat("retrain").train
    chosen = RunConfig.from_flat("retrain", loss="ccl").train
    assert (Loss.of(unset).name, Loss.of(unset, search=True).name) == ("softmax", "bpr")
    assert (Loss.of(chosen).name, Loss.of(chosen, search=True).name) == ("ccl", "ccl")
