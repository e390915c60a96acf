"""A discrete architecture (genotype) derived from the architecture parameters."""
from dataclasses import asdict, dataclass, field
from typing import List

import torch

from .search_space import SearchSpace


@dataclass
class NodeChoice:
    inputs: List[list]       # [[source node, op name], ...]
    activation: str


@dataclass
class Genotype:
    nodes: List[NodeChoice]  # nodes 1..K
    aggregation: str
    dim: int = 64
    extra: dict = field(default_factory=dict)

    def describe(self):
        """One line per node, e.g. 'node 2 = relu(gcn(node 0) + lightgcn(node 1))'."""
        lines = []
        for j, node in enumerate(self.nodes, 1):
            terms = " + ".join(f"{op}(node {i})" for i, op in node.inputs)
            lines.append(f"node {j} = {node.activation}({terms})")
        lines.append(f"output = {self.aggregation}(nodes 0..{len(self.nodes)})")
        return "\n".join(lines)

    def short(self):
        nodes = "; ".join(f"{j}:{n.activation}(" + "+".join(f"{op}@{i}" for i, op in n.inputs) + ")"
                          for j, n in enumerate(self.nodes, 1))
        return f"{nodes}; out:{self.aggregation}"

    def to_dict(self):
        return asdict(self)


def derive(alpha_ops, alpha_activations, alpha_aggregation, space: SearchSpace, dim,
           inputs_per_node=1):
    """Per node keep the ``inputs_per_node`` incoming edges whose strongest non-zero op weighs
    most, each with that op (never ``zero``); argmax for activation and aggregation."""
    probs = torch.softmax(alpha_ops.detach().float().cpu(), -1)
    non_zero = [o for o, name in enumerate(space.ops) if name != "zero"]
    nodes = []
    for j in range(1, space.n_nodes + 1):
        incoming = [e for e, (_, target) in enumerate(space.edges) if target == j]
        strength = {e: probs[e, non_zero].max().item() for e in incoming}
        kept = sorted(sorted(incoming, key=lambda e: -strength[e])[:inputs_per_node])
        inputs = [[space.edges[e][0], space.ops[non_zero[int(probs[e, non_zero].argmax())]]]
                  for e in kept]
        activation = space.activations[int(alpha_activations[j - 1].detach().argmax())]
        nodes.append(NodeChoice(inputs, activation))
    aggregation = space.aggregations[int(alpha_aggregation.detach().argmax())]
    return Genotype(nodes, aggregation, dim)


def derive_from_model(model, inputs_per_node=1):
    return derive(model.alpha_ops, model.alpha_activations, model.alpha_aggregation, model.space,
                  model.dim, inputs_per_node)
