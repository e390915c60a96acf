"""Each op against its dense-matrix formula (float64), gradcheck, relabelling, isolated nodes."""
import numpy as np
import pytest
import torch

from recnas.ops.gat import GATOptions
from recnas.data.graph import BipartiteGraph
from recnas.ops import ACTIVATIONS, OPS, make_activation, make_op

N_USERS, N_ITEMS, DIM = 6, 5, 8


def random_pairs(seed=0):
    rng = np.random.default_rng(seed)
    r = rng.random((N_USERS, N_ITEMS)) < 0.5
    r[-1, :] = False     # isolated user
    r[:, -1] = False     # isolated item
    return np.argwhere(r)


def dense_a(pairs):
    a = torch.zeros(N_USERS + N_ITEMS, N_USERS + N_ITEMS, dtype=torch.float64)
    a[pairs[:, 0], pairs[:, 1] + N_USERS] = 1
    return a + a.t()


def setup(seed=0):
    torch.manual_seed(seed)
    pairs = random_pairs(seed)
    graph = BipartiteGraph.from_pairs(pairs, N_USERS, N_ITEMS, dtype=torch.float64)
    x = torch.randn(N_USERS + N_ITEMS, DIM, dtype=torch.float64)
    return pairs, graph, x


def inv_sqrt(d):
    return torch.where(d > 0, d.clamp_min(1e-300) ** -0.5, torch.zeros_like(d))


def dense_reference(op, pairs, x):
    a = dense_a(pairs)
    d = a.sum(1)
    eye = torch.eye(len(a), dtype=torch.float64)
    if op.name == "lightgcn":
        return torch.diag(inv_sqrt(d)) @ a @ torch.diag(inv_sqrt(d)) @ x
    if op.name == "gcn":
        s = torch.diag((d + 1) ** -0.5)
        return s @ (a + eye) @ s @ x @ op.linear.weight.t() + op.linear.bias
    if op.name == "sage":
        mean = torch.diag(torch.where(d > 0, 1 / d.clamp_min(1), torch.zeros_like(d))) @ a
        return x @ op.root.weight.t() + mean @ x @ op.neighbours.weight.t() + op.neighbours.bias
    if op.name == "gat":
        mask = (a + eye) > 0
        heads = []
        xw = x @ op.linear.weight.t()
        for h in range(op.heads):
            wh = xw[:, h * op.head_dim:(h + 1) * op.head_dim]
            # e[i, j] = LeakyReLU(a_src . W x_j + a_dst . W x_i)
            e = (wh @ op.att_dst[h])[:, None] + (wh @ op.att_src[h])[None, :]
            e = torch.nn.functional.leaky_relu(e, 0.2).masked_fill(~mask, float("-inf"))
            heads.append(torch.softmax(e, dim=1) @ wh)
        return torch.cat(heads, 1) + op.bias
    if op.name == "skip":
        return x
    raise AssertionError(op.name)


def build(name):
    op = make_op(name, DIM).double()
    for p in op.parameters():       # non-zero biases so the formula is checked in full
        torch.nn.init.normal_(p)
    return op


@pytest.mark.parametrize("name", list(OPS))
def test_op_equals_dense_formula(name):
    pairs, graph, x = setup()
    op = build(name)
    out = op(x, graph)
    assert out.shape == x.shape
    torch.testing.assert_close(out, dense_reference(op, pairs, x), rtol=1e-10, atol=1e-10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [n for n in OPS if n != "skip"])
def test_shared_propagation_gives_the_same_output(name):
    _, graph, x = setup()
    op = build(name)
    if op.adjacency is None:
        pytest.skip("gat reads no shared adjacency")
    from recnas.ops import propagate
    torch.testing.assert_close(op(x, graph, propagate(graph, op.adjacency, x)), op(x, graph))


@pytest.mark.parametrize("name", ["gcn", "sage", "gat"])
def test_gradcheck(name):
    _, graph, x = setup()
    op = build(name)
    names = [n for n, _ in op.named_parameters()]

    def f(x, *weights):
        return torch.func.functional_call(op, dict(zip(names, weights)), (x, graph))

    weights = [p.detach().clone().requires_grad_() for p in op.parameters()]
    assert torch.autograd.gradcheck(f, (x.requires_grad_(), *weights))


def test_gradcheck_lightgcn_input():
    _, graph, x = setup()
    assert torch.autograd.gradcheck(lambda x: make_op("lightgcn", DIM)(x, graph),
                                    (x.requires_grad_(),))


@pytest.mark.parametrize("name", list(OPS))
def test_relabelling_nodes_permutes_the_output(name):
    pairs, graph, x = setup(seed=1)
    op = build(name)
    user_perm, item_perm = torch.randperm(N_USERS), torch.randperm(N_ITEMS)
    # new id of old user u is user_perm[u]; the same for items
    new_pairs = np.stack([user_perm[pairs[:, 0]].numpy(), item_perm[pairs[:, 1]].numpy()], 1)
    new_graph = BipartiteGraph.from_pairs(new_pairs, N_USERS, N_ITEMS, dtype=torch.float64)
    node_perm = torch.cat([user_perm, item_perm + N_USERS])    # old node -> new node
    new_x = torch.empty_like(x)
    new_x[node_perm] = x
    torch.testing.assert_close(op(new_x, new_graph)[node_perm], op(x, graph))


@pytest.mark.parametrize("name", list(OPS))
def test_isolated_nodes_are_finite_in_float32(name):
    pairs, graph, x = setup()
    op = make_op(name, DIM)
    out = op(x.float(), graph.to(dtype=torch.float32))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    if name in ("lightgcn",):
        assert torch.all(out[N_USERS - 1] == 0) and torch.all(out[-1] == 0)


def test_gat_attention_sums_to_one_per_node():
    _, graph, x = setup()
    op = build("gat")
    alpha = op.attention(x, graph)
    target = graph.attention_index[0]
    sums = torch.zeros(graph.n_nodes, op.heads, dtype=torch.float64).index_add_(0, target, alpha)
    torch.testing.assert_close(sums, torch.ones_like(sums))


def test_gat_dropout_only_in_training():
    _, graph, x = setup()
    op = make_op("gat", DIM, GATOptions(gat_dropout=0.5)).double()
    op.eval()
    torch.testing.assert_close(op(x, graph), op(x, graph))
    op.train()
    assert not torch.allclose(op(x, graph), op(x, graph))


def test_message_dropout_zeroes_a_share_of_each_propagated_node_only_in_training():
    """One node, identity(lightgcn@0), out last: the output is A·E with a share p of its entries
    zeroed and the rest scaled by 1 / (1 - p) in training, and exactly A·E in evaluation."""
    from recnas.models.genotype import Genotype, NodeChoice
    from recnas.models.net import StandaloneNet
    pairs, graph, _ = setup()
    genotype = Genotype([NodeChoice([[0, "lightgcn"]], "identity")], "last", 256)
    net = StandaloneNet(N_USERS, N_ITEMS, genotype, dropout=0.25).double()
    reference = dense_reference(make_op("lightgcn", 256), pairs, net.embedding.detach())
    net.eval()
    torch.testing.assert_close(net(graph).detach(), reference)
    net.train()
    out = net(graph).detach()
    dropped, nonzero = out == 0, reference != 0      # isolated nodes propagate zeros anyway
    assert nonzero.sum() > 2000
    assert abs(dropped[nonzero].double().mean().item() - 0.25) < 0.03
    torch.testing.assert_close(out[~dropped], reference[~dropped] / 0.75)


def test_registry_round_trips_every_name():
    for name in OPS:
        op = make_op(name, DIM)
        assert op.name == name and OPS[op.name] is type(op)
        op.reset_parameters()
    for name in ACTIVATIONS:
        assert make_activation(name)(torch.zeros(2)).shape == (2,)
    with pytest.raises(ValueError, match="unknown op"):
        make_op("conv9", DIM)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(OPS))
def test_cuda_matches_cpu(name):
    _, graph, x = setup()
    op = build(name)
    want = op(x, graph)
    got = op.cuda()(x.cuda(), graph.to("cuda")).cpu()
    torch.testing.assert_close(got, want)
