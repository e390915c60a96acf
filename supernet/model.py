"""The one-shot supernet: embeddings -> cell of mixed ops -> layer aggregation -> user/item vectors.

Every cell edge i -> j mixes all candidate ops with its own architecture weights. Where the op
*parameters* live is a choice (``op_weights``):

- ``edge`` (DARTS): every edge has its own copy of every op, as the derived architecture will.
- ``node`` (the default): the edges leaving the same node share one copy; each op runs once
  per source node (K runs instead of K(K+1)/2). It couples sibling edges (one edge's gradient
  moves the weights another edge's α is judged by), yet on ml-100k it ranks architectures
  better than ``edge`` (benchmarks/results/ranking_correlation_ml100k.md).

Either way the adjacency products of a node's state are computed once and shared by its edges,
and a derived architecture is retrained from scratch with its own weights for every kept edge.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from recnas.ops import LayerAggregation, make_activation, make_op, mix, propagate
from recnas.models.space import SearchSpace


@dataclass
class ArchWeights:
    """Per-choice tensors of the architecture: ops (edges, candidates), activations (nodes,
    activations), aggregation (choices,). Raw α or mixing weights, depending on who made it;
    an exactly-zero mixing weight skips its op (one-hot and sampled architectures run only what
    they use)."""
    ops: torch.Tensor
    activations: torch.Tensor
    aggregation: torch.Tensor

    def map(self, fn):
        return ArchWeights(fn(self.ops), fn(self.activations), fn(self.aggregation))

    def softmax(self):
        """The mixing distributions of raw α (softmax over each row's choices)."""
        return self.map(lambda alpha: F.softmax(alpha, dim=-1))

    def to_record(self, space):
        """The JSON form of these weights with their labels (results.json, genotype.json)."""
        values = self.map(lambda w: w.detach().float().cpu().tolist())
        return {"edges": [space.edge_name(e) for e in range(len(space.edges))],
                "ops": list(space.ops), "activations": list(space.activations),
                "aggregations": list(space.aggregations), "op_weights": values.ops,
                "activation_weights": values.activations,
                "aggregation_weights": values.aggregation}

    def non_zero(self):
        """The three weight tensors' non-zero masks as nested lists (one host sync in all)."""
        flat = torch.cat([w.detach().reshape(-1) for w in (self.ops, self.activations,
                                                           self.aggregation)]).ne(0).tolist()
        n_ops, n_act = self.ops.numel(), self.activations.numel()
        rows = lambda values, width: [values[r:r + width] for r in range(0, len(values), width)]
        return (rows(flat[:n_ops], self.ops.shape[1]),
                rows(flat[n_ops:n_ops + n_act], self.activations.shape[1]),
                flat[n_ops + n_act:])

    @classmethod
    def of_genotype(cls, genotype, space, like):
        """Mixing weights under which the supernet computes exactly ``genotype``: weight 1 on
        each input's op on its edge, 0 elsewhere (so nothing else runs), one-hot activations and
        aggregation; dtype and device of the tensor ``like``. This is how the one-shot model
        scores an architecture with its inherited weights."""
        if len(genotype.nodes) != space.n_nodes:
            raise ValueError(f"the genotype has {len(genotype.nodes)} nodes, the space "
                             f"{space.n_nodes}")
        ops = like.new_zeros(len(space.edges), len(space.ops))
        activations = like.new_zeros(space.n_nodes, len(space.activations))
        for j, node in enumerate(genotype.nodes, 1):
            for source, op in node.inputs:
                ops[space.edges.index((source, j)), space.ops.index(op)] = 1
            activations[j - 1, space.activations.index(node.activation)] = 1
        aggregation = like.new_zeros(len(space.aggregations))
        aggregation[space.aggregations.index(genotype.aggregation)] = 1
        return cls(ops, activations, aggregation)

    @classmethod
    def sample_path(cls, space, like):
        """One uniformly sampled single-input architecture as mixing weights (SPOS's path):
        per node one incoming edge and computed op, one activation; one aggregation. Draws from
        torch's global generator, which checkpoints save."""
        ops = like.new_zeros(len(space.edges), len(space.ops))
        computed = space.computed_op_indices
        for j in range(1, space.n_nodes + 1):
            incoming = space.incoming(j)
            edge = incoming[int(torch.randint(len(incoming), ()))]
            ops[edge, computed[int(torch.randint(len(computed), ()))]] = 1
        pick = lambda n: F.one_hot(torch.randint(n, ()), n).to(like)
        activations = torch.stack([pick(len(space.activations)) for _ in range(space.n_nodes)])
        return cls(ops, activations, pick(len(space.aggregations)))

    @classmethod
    def from_state_dict(cls, state):
        """The raw α of a saved Supernet state dict."""
        return cls(state["alpha_ops"], state["alpha_activations"], state["alpha_aggregation"])


def weighted_sum(weights, active, terms):
    """Σ weights[k] * terms[k]() over the k where ``active[k]`` (terms are called lazily);
    None when none is active. weights: 1-D tensor; active: list of bools."""
    keep = [k for k, a in enumerate(active) if a]
    if not keep:
        return None
    return mix(weights[keep], [terms[k]() for k in keep])


OP_WEIGHTS = ("edge", "node")


class Supernet(nn.Module):
    def __init__(self, n_users, n_items, dim=64, space=SearchSpace(), op_options=None,
                 op_weights="node"):
        super().__init__()
        if op_weights not in OP_WEIGHTS:
            raise ValueError(f"op_weights must be one of {', '.join(OP_WEIGHTS)}, "
                             f"got {op_weights!r}")
        self.n_users, self.n_items, self.dim, self.space = n_users, n_items, dim, space
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, dim))
        # owner of each edge's op weights: the edge itself, or its source node
        self.owner = (list(range(len(space.edges))) if op_weights == "edge"
                      else [i for i, _ in space.edges])
        self.op_sets = nn.ModuleList(
            nn.ModuleDict({name: make_op(name, dim, op_options)
                           for name in space.computed_ops})
            for _ in range(max(self.owner) + 1))
        self.activation_fns = nn.ModuleList(make_activation(a) for a in space.activations)
        self.aggregations = nn.ModuleList(LayerAggregation(kind, space.n_nodes + 1, dim)
                                          for kind in space.aggregations)
        self.alpha_ops = nn.Parameter(torch.empty(len(space.edges), len(space.ops)))
        self.alpha_activations = nn.Parameter(torch.empty(space.n_nodes, len(space.activations)))
        self.alpha_aggregation = nn.Parameter(torch.empty(len(space.aggregations)))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.embedding, std=0.1)   # LightGCN's initialization
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for alpha in self.arch_parameters():
            nn.init.normal_(alpha, std=1e-3)         # DARTS: near-uniform mixtures

    def arch_parameters(self):
        return [self.alpha_ops, self.alpha_activations, self.alpha_aggregation]

    def weight_parameters(self):
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def alphas(self):
        """The raw architecture parameters."""
        return ArchWeights(*self.arch_parameters())

    def arch_weights(self, strategy="darts", tau=1.0):
        """darts: softmax of alpha; gdas: hard Gumbel-softmax sample (straight-through);
        argmax: the one-hot of the current best choice (no gradient); path: a uniformly
        sampled single path, whatever α says (no gradient to α)."""
        if strategy == "path":
            return ArchWeights.sample_path(self.space, self.embedding.detach())
        if strategy == "darts":
            return self.alphas().softmax()
        if strategy == "gdas":
            return self.alphas().map(lambda a: F.gumbel_softmax(a, tau=tau, hard=True, dim=-1))
        if strategy == "argmax":
            return self.alphas().map(
                lambda a: F.one_hot(a.detach().argmax(-1), a.shape[-1]).to(a.dtype))
        raise ValueError(f"unknown strategy {strategy!r}")

    def edge_ops(self, source, target):
        """The candidate ops (name -> module) of the cell edge source -> target."""
        return self.op_sets[self.owner[self.space.edges.index((source, target))]]

    def inherit(self, net):
        """Copy into ``net`` (a training.net.StandaloneNet of a genotype of this space) the
        supernet's weights for its choices: the embeddings, each input's op from that op on the
        input's edge, the aggregation's parameters."""
        with torch.no_grad():
            net.embedding.copy_(self.embedding)
            for target, (node, ops) in enumerate(zip(net.genotype.nodes, net.node_inputs), 1):
                for (source, name), op in zip(node.inputs, ops):
                    op.load_state_dict(self.edge_ops(source, target)[name].state_dict())
            chosen = self.space.aggregations.index(net.genotype.aggregation)
            net.aggregation.load_state_dict(self.aggregations[chosen].state_dict())
        return net

    def _op_outputs(self, source, h, graph, active_ops, computed):
        """{(owner, op name): output} of the active ops on the edges leaving node ``source``,
        whose state is h; each adjacency product of h is computed once."""
        propagated, outputs = {}, {}
        for e, (i, _) in enumerate(self.space.edges):
            if i != source:
                continue
            for o, name in enumerate(self.space.ops):
                key = (self.owner[e], name)
                if not (active_ops[e][o] and computed[o]) or key in outputs:
                    continue
                op = self.op_sets[self.owner[e]][name]
                if op.adjacency is not None and op.adjacency not in propagated:
                    propagated[op.adjacency] = propagate(graph, op.adjacency, h)
                outputs[key] = op(h, graph, propagated.get(op.adjacency))
        return outputs

    def forward(self, graph, weights: ArchWeights):
        """Final representations (N, d), users first."""
        space, ops = self.space, self.space.ops
        computed = [name in space.computed_ops for name in ops]   # `zero` adds nothing
        active_ops, active_activations, active_aggregations = weights.non_zero()
        states, outputs = [self.embedding], {}
        for j in range(1, space.n_nodes + 1):
            source = j - 1   # its out-edges start at node j: compute their op outputs now
            outputs.update(self._op_outputs(source, states[source], graph, active_ops, computed))
            # all (edge, op) terms into node j in one weighted sum
            incoming = space.incoming(j)
            terms = [(lambda key=(self.owner[e], name): outputs[key])
                     for e in incoming for name in ops]
            active = [a and c for e in incoming for a, c in zip(active_ops[e], computed)]
            total = weighted_sum(weights.ops[incoming].reshape(-1), active, terms)
            if total is None:   # every incoming edge is `zero`
                total = torch.zeros_like(self.embedding)
            states.append(weighted_sum(weights.activations[j - 1], active_activations[j - 1],
                                       [lambda f=f: f(total) for f in self.activation_fns]))
        return weighted_sum(weights.aggregation, active_aggregations,
                            [lambda agg=agg: agg(states) for agg in self.aggregations])
