"""Ranking correlation (against naive formulas) and the one-shot view of a genotype: the
supernet under ArchWeights.of_genotype computes what the standalone net computes with the
supernet's weights; the perturbation rule of derive against a planted score."""
import random

import numpy as np
import pytest
import torch

from recnas.evaluation.correlation import average_ranks, bootstrap_interval, kendall_tau, spearman_rho
from recnas.app.config import RunConfig
from recnas.app.jobs import run
from recnas.supernet.derive import derive
from recnas.supernet.discretize import discretize, discretize_by_perturbation
from recnas.models.genotype import Genotype, NodeChoice, sample
from recnas.supernet.model import ArchWeights, Supernet
from recnas.supernet.oneshot import OneShot
from recnas.models.space import SearchSpace
from recnas.models.net import StandaloneNet

from helpers import N_ITEMS, N_USERS, small_dataset, tiny_graph


def naive_kendall(x, y):
    """τ-b by a loop over pairs."""
    concordant = discordant = untied_x = untied_y = 0
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            sx, sy = np.sign(x[a] - x[b]), np.sign(y[a] - y[b])
            concordant += sx * sy > 0
            discordant += sx * sy < 0
            untied_x += sx != 0
            untied_y += sy != 0
    return (concordant - discordant) / np.sqrt(untied_x * untied_y)


def test_kendall_and_spearman_against_naive_formulas():
    rng = np.random.default_rng(0)
    for trial in range(20):
        x = rng.integers(0, 6, 15).astype(float)          # with ties
        y = x + rng.normal(0, 2, 15) if trial % 2 else rng.integers(0, 4, 15).astype(float)
        assert kendall_tau(x, y) == pytest.approx(naive_kendall(x, y))
        rank_x = [1 + sum(v < x[i] for v in x) + (sum(v == x[i] for v in x) - 1) / 2
                  for i in range(len(x))]
        assert average_ranks(x) == pytest.approx(rank_x)
    x, y = np.arange(10.0), np.arange(10.0) ** 3
    assert kendall_tau(x, y) == pytest.approx(1) and spearman_rho(x, y) == pytest.approx(1)
    assert kendall_tau(x, -y) == pytest.approx(-1) and spearman_rho(x, -y) == pytest.approx(-1)
    # no ties: ρ = 1 - 6 Σ d² / (n (n² - 1))
    x, y = rng.permutation(12).astype(float), rng.permutation(12).astype(float)
    assert spearman_rho(x, y) == pytest.approx(1 - 6 * ((x - y) ** 2).sum() / (12 * 143))
    assert np.isnan(kendall_tau(x, np.ones(12))) and np.isnan(spearman_rho(x, np.ones(12)))


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_items():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 200):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        low, high = bootstrap_interval(kendall_tau, x, y, resamples=500)
        assert low <= kendall_tau(x, y) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


@pytest.mark.parametrize("op_weights", ["node", "edge"])
@pytest.mark.parametrize("seed", range(6))
def test_one_hot_supernet_equals_the_standalone_net_with_inherited_weights(seed, op_weights):
    space = SearchSpace()
    rng = random.Random(seed)
    genotype = sample(space, 8, rng, inputs_per_node=1 + seed % 2)
    graph = tiny_graph(seed)
    torch.manual_seed(seed)
    supernet = Supernet(N_USERS, N_ITEMS, 8, space, op_weights=op_weights).double()
    for parameter in supernet.weight_parameters():       # no zero-initialized weight hides a bug
        parameter.data.normal_(0, 0.3)
    net = supernet.inherit(StandaloneNet(N_USERS, N_ITEMS, genotype).double())
    supernet.eval(), net.eval()
    weights = ArchWeights.of_genotype(genotype, space, supernet.embedding)
    with torch.no_grad():
        assert torch.allclose(supernet(graph, weights), net(graph), atol=1e-12), genotype.short()


def test_of_genotype_is_one_hot_on_the_chosen_edges():
    space = SearchSpace(n_nodes=2)
    genotype = Genotype([NodeChoice([[0, "gcn"]], "relu"),
                         NodeChoice([[0, "sage"], [1, "skip"]], "identity")], "last", 8)
    weights = ArchWeights.of_genotype(genotype, space, torch.zeros(1))
    assert space.edges == [(0, 1), (0, 2), (1, 2)]
    assert weights.ops.sum().item() == 3 and weights.ops[0, space.ops.index("gcn")] == 1
    assert weights.ops[1, space.ops.index("sage")] == 1 and weights.ops[2, space.ops.index("skip")] == 1
    assert weights.activations.sum(1).tolist() == [1, 1]
    assert weights.aggregation[space.aggregations.index("last")] == 1
    with pytest.raises(ValueError, match="has 2 nodes, the space 3"):
        ArchWeights.of_genotype(genotype, SearchSpace(n_nodes=3), torch.zeros(1))


def test_alternatives_differ_in_one_choice_and_follow_alpha():
    from recnas.supernet.discretize import alternatives, discretize
    space = SearchSpace(n_nodes=2)
    torch.manual_seed(0)
    alphas = ArchWeights(torch.randn(len(space.edges), len(space.ops)),
                         torch.randn(2, len(space.activations)), torch.randn(len(space.aggregations)))
    best = discretize(alphas, space, 8)
    nearest = alternatives(alphas, space, 8, 100)
    # every single-choice change of the cell: node 1 has 1 edge, node 2 has 2, each with the
    # computed ops; the activations and the aggregation
    n_ops = len(space.computed_ops)
    assert len(nearest) == (1 * n_ops - 1) + (2 * n_ops - 1) + 2 * (len(space.activations) - 1) \
        + len(space.aggregations) - 1
    assert len({g.short() for g in nearest}) == len(nearest) and best.short() not in \
        {g.short() for g in nearest}
    for genotype in nearest:
        changed = sum(a.inputs != b.inputs for a, b in zip(genotype.nodes, best.nodes)) + sum(
            a.activation != b.activation for a, b in zip(genotype.nodes, best.nodes)) + (
            genotype.aggregation != best.aggregation)
        assert changed == 1
    # the first one is the runner-up of the aggregation when that one is nearly tied
    alphas.aggregation[:] = torch.tensor([5.0, 4.999, -3, -3][:len(space.aggregations)])
    top = alternatives(alphas, space, 8, 1)[0]
    assert top.aggregation == space.aggregations[1]


def test_perturbation_keeps_the_choices_whose_removal_costs_most():
    """A planted score, linear in the mixing weights (score = Σ w·value), so removing a choice
    costs exactly w·value: the rule must pick the largest w·value per edge, node and
    aggregation, where the argmax rule picks the largest w."""
    space = SearchSpace(n_nodes=3)
    gen = torch.Generator().manual_seed(0)
    alphas = ArchWeights(torch.randn(len(space.edges), len(space.ops), generator=gen),
                         torch.randn(space.n_nodes, len(space.activations), generator=gen),
                         torch.randn(len(space.aggregations), generator=gen))
    values = alphas.map(lambda a: torch.rand(a.shape, generator=gen))
    mixture = alphas.softmax()

    def score(weights):
        return sum((w * v).sum().item() for w, v in zip(
            (weights.ops, weights.activations, weights.aggregation),
            (values.ops, values.activations, values.aggregation)))

    got = discretize_by_perturbation(mixture, score, space, 8)
    cost = mixture.map(lambda w: w.clone()).ops * values.ops
    for j, node in enumerate(got.nodes, 1):
        # naive: every (incoming edge, computed op) pair, the most costly one
        pairs = [(cost[e, o].item(), space.edges[e][0], name) for e in space.incoming(j)
                 for o, name in enumerate(space.ops) if name != "zero"]
        _, source, op = max(pairs)
        assert node.inputs == [[source, op]]
        act_cost = (mixture.activations[j - 1] * values.activations[j - 1]).tolist()
        assert node.activation == space.activations[act_cost.index(max(act_cost))]
    agg_cost = (mixture.aggregation * values.aggregation).tolist()
    assert got.aggregation == space.aggregations[agg_cost.index(max(agg_cost))]
    assert got.short() != discretize(alphas, space, 8).short()   # the two rules differ here


def test_one_shot_reloads_the_search_supernet_and_derive_by_perturbation(tmp_path):
    """OneShot.load rebuilds the searched supernet: under the search's own mixture it scores
    exactly the validation Recall the search reported; derive --method perturbation writes a
    genotype of the space with its method on record."""
    config = RunConfig.from_flat("search", dataset=str(small_dataset(tmp_path / "inter.txt")),
                                 out=str(tmp_path / "run"), device="cpu", epochs=3, dim=8,
                                 batch_size=32, warmup_epochs=1, nodes=2, gat_heads=2,
                                 op_weights="edge")
    results = run(config)
    one_shot = OneShot.load(tmp_path / "run")
    assert one_shot.score(one_shot.mixture()) == pytest.approx(results["val"]["recall@20"],
                                                               abs=1e-12)
    assert len(one_shot.evaluator.users) > 0
    genotype = derive(tmp_path / "run", tmp_path / "pt.json", method="perturbation")
    saved = Genotype.load(tmp_path / "pt.json")
    assert saved.short() == genotype.short() and len(saved.nodes) == 2
    assert saved.provenance["search"]["method"] == "perturbation"


def test_sampled_paths_are_single_input_architectures_drawn_uniformly():
    space = SearchSpace(n_nodes=3)
    torch.manual_seed(0)
    like = torch.zeros(1, dtype=torch.float64)
    counts = torch.zeros(len(space.edges), len(space.ops))
    draws = 3000
    for _ in range(draws):
        weights = ArchWeights.sample_path(space, like)
        for j in range(1, space.n_nodes + 1):    # one (edge, computed op) into every node
            incoming = weights.ops[space.incoming(j)]
            assert incoming.sum() == 1 and incoming[:, space.ops.index("zero")].sum() == 0
        assert torch.equal(weights.activations.sum(1), torch.ones(space.n_nodes, dtype=like.dtype))
        assert weights.aggregation.sum() == 1 and weights.ops.dtype == like.dtype
        counts += weights.ops
    # node j has j incoming edges and 5 computed ops: each pair has probability 1 / (5 j)
    for e, (_, j) in enumerate(space.edges):
        for o, name in enumerate(space.ops):
            want = 0 if name == "zero" else draws / (len(space.computed_ops) * j)
            assert abs(counts[e, o] - want) <= 4 * max(want, 1) ** 0.5, (e, name)
