"""The supernet: one-hot weights equal a standalone chain; second-order hypergradient equals
brute-force finite differences of the validation loss after an exact virtual step."""
import numpy as np
import pytest
import torch

from recnas.ops.gat import GATOptions
from recnas.supernet.architect import Architect
from recnas.supernet.discretize import discretize
from recnas.models.losses import Loss
from recnas.ops import mix
from recnas.supernet.model import ArchWeights, Supernet
from recnas.models.space import SearchSpace

from helpers import N_ITEMS, N_USERS, tiny_graph, tiny_pairs


def one_hot_chain(space, op, activation="relu", aggregation="mean"):
    """Edges (j-1 -> j) use ``op``, every other edge ``zero``."""
    ops = torch.zeros(len(space.edges), len(space.ops), dtype=torch.float64)
    for e, (i, j) in enumerate(space.edges):
        ops[e, space.ops.index(op if i == j - 1 else "zero")] = 1
    acts = torch.zeros(space.n_nodes, len(space.activations), dtype=torch.float64)
    acts[:, space.activations.index(activation)] = 1
    agg = torch.zeros(len(space.aggregations), dtype=torch.float64)
    agg[space.aggregations.index(aggregation)] = 1
    return ArchWeights(ops, acts, agg)


def test_mix_matches_autograd_weighted_sum():
    torch.manual_seed(0)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    ys = [torch.randn(5, 4, dtype=torch.float64, requires_grad=k != 1) for k in range(3)]
    upstream = torch.randn(5, 4, dtype=torch.float64)
    ours = mix(w, ys)
    want = sum(w[k] * ys[k] for k in range(3))
    torch.testing.assert_close(ours, want, rtol=1e-12, atol=1e-12)
    inputs = [w, ys[0], ys[2]]
    for got, expected in zip(torch.autograd.grad(ours, inputs, upstream),
                             torch.autograd.grad(want, inputs, upstream)):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda w, a, c: mix(w, [a, ys[1].detach(), c]),
                                    (w, ys[0], ys[2]))


@pytest.mark.parametrize("op", ["lightgcn", "gcn", "sage", "gat", "skip"])
@pytest.mark.parametrize("aggregation", ["mean", "last", "concat", "weighted"])
def test_one_hot_supernet_equals_standalone_chain(op, aggregation):
    torch.manual_seed(0)
    graph = tiny_graph()
    model = Supernet(N_USERS, N_ITEMS, dim=8, space=SearchSpace(n_nodes=3)).double()
    got = model(graph, one_hot_chain(model.space, op, "elu", aggregation))
    # the standalone network: h_j = elu(op_j(h_{j-1})), each op called on its own
    states = [model.embedding]
    for j in range(1, 4):
        states.append(torch.nn.functional.elu(model.edge_ops(j - 1, j)[op](states[-1], graph)))
    want = model.aggregations[model.space.aggregations.index(aggregation)](states)
    assert torch.equal(got, want)


@pytest.mark.parametrize("op_weights", ["node", "edge"])
def test_mixed_supernet_matches_a_naive_loop_over_edges_and_ops(op_weights):
    """Soft weights everywhere: node j = Σ_act w_a act(Σ_edges i->j Σ_ops w_eo op(h_i)), each op
    called on its own with the weights of its edge (edge) or of its source node (node)."""
    torch.manual_seed(0)
    graph = tiny_graph()
    space = SearchSpace(n_nodes=3)
    model = Supernet(N_USERS, N_ITEMS, dim=8, space=space, op_options=GATOptions(gat_heads=2),
                     op_weights=op_weights).double()
    with torch.no_grad():
        for alpha in model.arch_parameters():
            alpha.normal_()
    weights = model.arch_weights("darts")
    states = [model.embedding]
    for j in range(1, 4):
        total = 0
        for e, (i, target) in enumerate(space.edges):
            if target != j:
                continue
            for o, name in enumerate(space.ops):
                if name != "zero":
                    op = (model.op_sets[e] if op_weights == "edge" else model.op_sets[i])[name]
                    total = total + weights.ops[e, o] * op(states[i], graph)
        states.append(sum(weights.activations[j - 1, a] * f(total)
                          for a, f in enumerate(model.activation_fns)))
    want = sum(weights.aggregation[k] * agg(states) for k, agg in enumerate(model.aggregations))
    torch.testing.assert_close(model(graph, weights), want, rtol=1e-12, atol=1e-12)


def test_edge_op_weights_are_not_shared_by_sibling_edges():
    space = SearchSpace(n_nodes=3)
    shared = Supernet(N_USERS, N_ITEMS, dim=8, space=space, op_weights="node")
    separate = Supernet(N_USERS, N_ITEMS, dim=8, space=space, op_weights="edge").double()
    assert shared.edge_ops(0, 1) is shared.edge_ops(0, 3)
    assert separate.edge_ops(0, 1) is not separate.edge_ops(0, 3)
    assert len(separate.op_sets) == len(space.edges) and len(shared.op_sets) == space.n_nodes
    # a loss that reads edge 0 -> 1 only moves that edge's weights
    graph = tiny_graph()
    one_edge = torch.zeros(len(space.edges), len(space.ops), dtype=torch.float64)
    one_edge[0, space.ops.index("gcn")] = 1
    acts = torch.zeros(space.n_nodes, len(space.activations), dtype=torch.float64)
    acts[:, space.activations.index("identity")] = 1
    agg = torch.zeros(len(space.aggregations), dtype=torch.float64)
    agg[space.aggregations.index("mean")] = 1
    separate(graph, ArchWeights(one_edge, acts, agg)).sum().backward()
    assert separate.edge_ops(0, 1)["gcn"].linear.weight.grad is not None
    assert separate.edge_ops(0, 3)["gcn"].linear.weight.grad is None
    with pytest.raises(ValueError, match="op_weights must be one of edge, node"):
        Supernet(N_USERS, N_ITEMS, dim=8, op_weights="cell")


def test_argmax_weights_follow_alpha():
    model = Supernet(N_USERS, N_ITEMS, dim=8)
    with torch.no_grad():
        model.alpha_ops[:, model.space.ops.index("gcn")] += 1
    weights = model.arch_weights("argmax")
    assert torch.all(weights.ops[:, model.space.ops.index("gcn")] == 1)
    assert weights.ops.sum() == len(model.space.edges)


def test_gdas_runs_only_the_sampled_ops(monkeypatch):
    torch.manual_seed(0)
    graph = tiny_graph()
    model = Supernet(N_USERS, N_ITEMS, dim=8).double()
    calls = []
    for ops in model.op_sets:
        for name, op in ops.items():
            op.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    weights = model.arch_weights("gdas", tau=1.0)
    assert torch.all(weights.ops.sum(1) == 1)
    out = model(graph, weights)
    used = {model.space.ops[o] for o in weights.ops.argmax(1).tolist()} - {"zero"}
    assert set(calls) <= used
    out.sum().backward()            # straight-through: alpha gets a gradient
    assert model.alpha_ops.grad is not None and model.alpha_ops.grad.abs().sum() > 0


def fixed_batches(pairs, seed=0):
    rng = np.random.default_rng(seed)
    users = torch.tensor(pairs[:, 0])
    pos = torch.tensor(pairs[:, 1])
    neg = torch.tensor(rng.integers(0, N_ITEMS, len(pairs)))
    half = len(pairs) // 2
    return (users[:half], pos[:half], neg[:half]), (users[half:], pos[half:], neg[half:])


def test_second_order_hypergradient_matches_brute_force():
    torch.manual_seed(0)
    pairs, graph = tiny_pairs(), tiny_graph()
    space = SearchSpace(n_nodes=2)
    model = Supernet(N_USERS, N_ITEMS, dim=4, space=space, op_options=GATOptions(gat_heads=2)).double()
    with torch.no_grad():           # away from the uniform point, so alpha gradients are large
        for alpha in model.arch_parameters():
            alpha.normal_(std=0.5)
        model.embedding.normal_(std=1.0)
    train_batch, val_batch = fixed_batches(pairs)

    def loss_fn(batch):
        reps = model(graph, model.arch_weights("darts"))
        return Loss("bpr", 1e-2)(reps, model.embedding, *batch, N_USERS)[0]

    xi = 0.5
    architect = Architect(model, loss_fn, 3e-4, (0.5, 0.999), 1e-3, order=2, unrolled_lr=xi)
    weights_before = [w.detach().clone() for w in model.weight_parameters()]
    _, hypergrad = architect.hypergradient(train_batch, val_batch)
    for w, w0 in zip(model.weight_parameters(), weights_before):
        assert torch.equal(w, w0)   # the virtual step is undone

    def val_loss_after_virtual_step(alphas):
        """L_val(w - xi grad_w L_train(w, alpha), alpha), computed exactly (no approximation)."""
        with torch.no_grad():
            for p, a in zip(model.arch_parameters(), alphas):
                p.copy_(a)
        grads = torch.autograd.grad(loss_fn(train_batch), model.weight_parameters())
        with torch.no_grad():
            for w, w0, g in zip(model.weight_parameters(), weights_before, grads):
                w.copy_(w0 - xi * g)
            value = loss_fn(val_batch).item()
            for w, w0 in zip(model.weight_parameters(), weights_before):
                w.copy_(w0)
        return value

    alphas = [a.detach().clone() for a in model.arch_parameters()]
    h = 1e-5
    for k, alpha in enumerate(alphas):
        brute = torch.zeros_like(alpha)
        for idx in np.ndindex(*alpha.shape):
            plus = [a.clone() for a in alphas]
            minus = [a.clone() for a in alphas]
            plus[k][idx] += h
            minus[k][idx] -= h
            brute[idx] = (val_loss_after_virtual_step(plus) - val_loss_after_virtual_step(minus)) / (2 * h)
        torch.testing.assert_close(hypergrad[k], brute, rtol=1e-4, atol=1e-7)

    # and the second-order term is not negligible here: first order would fail this test
    with torch.no_grad():
        for p, a in zip(model.arch_parameters(), alphas):
            p.copy_(a)
    first = torch.autograd.grad(loss_fn(val_batch), model.arch_parameters())
    difference = torch.cat([(f - g).flatten() for f, g in zip(first, hypergrad)]).norm()
    assert difference > 0.05 * torch.cat([g.flatten() for g in hypergrad]).norm()


def test_derive_never_keeps_zero_and_takes_argmax():
    model = Supernet(N_USERS, N_ITEMS, dim=8)
    space = model.space
    with torch.no_grad():
        model.alpha_ops.zero_()
        model.alpha_ops[:, space.ops.index("zero")] = 5.0          # zero dominates everywhere
        model.alpha_ops[:, space.ops.index("sage")] = 1.0
        model.alpha_ops[space.edges.index((1, 3)), space.ops.index("gat")] = 3.0
    genotype = discretize(model.alphas(), space, model.dim)
    assert genotype.nodes[2].inputs == [[1, "gat"]]
    assert all(op != "zero" for node in genotype.nodes for _, op in node.inputs)
    assert genotype.nodes[0].inputs == [[0, "sage"]]
