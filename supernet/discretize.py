"""The rules that turn α into discrete architectures: the argmax rule (``discretize``), DARTS-PT's
perturbation rule (``discretize_by_perturbation``) and the nearest alternatives of an argmax
(``alternatives``). The strategies that learn α use them (supernet/strategies/darts.py)."""
import copy

import torch

from recnas.models.genotype import Genotype, NodeChoice
from recnas.models.space import SearchSpace
from recnas.supernet.model import ArchWeights


def discretize(alphas: ArchWeights, space: SearchSpace, dim, inputs_per_node=1):
    """Per node keep the ``inputs_per_node`` incoming edges whose strongest computed op (never
    ``zero``) weighs most, each with that op; argmax for activation and aggregation."""
    probs = alphas.map(lambda a: a.detach().float().cpu()).softmax()
    computed = space.computed_op_indices
    op_probs = probs.ops[:, computed]
    nodes = []
    for j in range(1, space.n_nodes + 1):
        incoming = space.incoming(j)
        strength = {e: op_probs[e].max().item() for e in incoming}
        kept = sorted(sorted(incoming, key=lambda e: -strength[e])[:inputs_per_node])
        inputs = [[space.edges[e][0], space.ops[computed[int(op_probs[e].argmax())]]]
                  for e in kept]
        nodes.append(NodeChoice(inputs, space.activations[int(probs.activations[j - 1].argmax())]))
    return Genotype(nodes, space.aggregations[int(probs.aggregation.argmax())], dim)


def discretize_by_perturbation(mixture: ArchWeights, score, space: SearchSpace, dim,
                               inputs_per_node=1):
    """DARTS-PT's selection (Wang et al. 2021, "Rethinking architecture selection in
    differentiable NAS"), without its fine-tuning between decisions: a choice is as strong as
    the supernet's validation score drops when that choice alone is taken out of ``mixture``
    (its weight set to 0). Per edge the op whose removal hurts most; per node the
    ``inputs_per_node`` edges whose best op hurts most; per node the activation, and the
    aggregation, likewise. α's magnitude, which the argmax rule reads, plays no part.
    ``mixture``: the search's mixing weights; ``score``: ArchWeights -> float, higher is better.
    """
    base = score(mixture)

    def drop(field, index):
        weights = mixture.map(torch.clone)
        getattr(weights, field)[index] = 0
        return base - score(weights)

    computed = space.computed_op_indices
    nodes = []
    for j in range(1, space.n_nodes + 1):
        best = {}   # edge -> (drop, op) of its strongest op
        for e in space.incoming(j):
            drops = [(drop("ops", (e, o)), -o) for o in computed]
            strength, minus_o = max(drops)     # ties: the op listed first
            best[e] = (strength, -minus_o)
        kept = sorted(sorted(best, key=lambda e: -best[e][0])[:inputs_per_node])
        activation = max(range(len(space.activations)),
                         key=lambda a: (drop("activations", (j - 1, a)), -a))
        nodes.append(NodeChoice([[space.edges[e][0], space.ops[best[e][1]]] for e in kept],
                                space.activations[activation]))
    aggregation = max(range(len(space.aggregations)), key=lambda a: (drop("aggregation", a), -a))
    return Genotype(nodes, space.aggregations[aggregation], dim)


def alternatives(alphas: ArchWeights, space: SearchSpace, dim, n):
    """The ``n`` architectures (None: all) nearest to the argmax cell (one input per node): each
    differs from it in one choice (a node's input edge and op, its activation, or the
    aggregation), ranked by how close the search came to choosing it: its probability over that
    of the choice it replaces, in the same distribution."""
    probs = alphas.map(lambda a: a.detach().float().cpu()).softmax()
    best = discretize(alphas, space, dim)
    computed = space.computed_op_indices
    options = []

    def option(ratio, change):
        genotype = copy.deepcopy(best)
        change(genotype)
        options.append((ratio, len(options), genotype))

    for j, node in enumerate(best.nodes, 1):
        (source, op), = node.inputs
        chosen = probs.ops[space.edges.index((source, j)), space.ops.index(op)]
        for e in space.incoming(j):
            for o in computed:
                alternative = [space.edges[e][0], space.ops[o]]
                if alternative != [source, op]:
                    option(probs.ops[e, o] / chosen,
                           lambda g, j=j, a=alternative: setattr(g.nodes[j - 1], "inputs", [a]))
        chosen = probs.activations[j - 1, space.activations.index(node.activation)]
        for a, name in enumerate(space.activations):
            if name != node.activation:
                option(probs.activations[j - 1, a] / chosen,
                       lambda g, j=j, name=name: setattr(g.nodes[j - 1], "activation", name))
    chosen = probs.aggregation[space.aggregations.index(best.aggregation)]
    for a, name in enumerate(space.aggregations):
        if name != best.aggregation:
            option(probs.aggregation[a] / chosen,
                   lambda g, name=name: setattr(g, "aggregation", name))
    return [genotype for _, _, genotype in sorted(options, key=lambda t: (-float(t[0]), t[1]))[:n]]
