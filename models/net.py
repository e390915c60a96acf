"""A derived architecture as a network of its own: only the chosen ops, fresh weights."""
import torch
import torch.nn as nn

from recnas.ops import LayerAggregation, make_activation, make_op
from recnas.models.genotype import Genotype


class StandaloneNet(nn.Module):
    """node 0 = embedding table; node j = activation_j(Σ over its inputs (i, op) of op(h_i));
    output = aggregation(h_0 .. h_K). Shapes: -> (N, d), users first. ``dropout``: message
    dropout (NGCF's) on h_1 .. h_K in training."""

    def __init__(self, n_users, n_items, genotype: Genotype, op_options=None,
                 dropout=0.0):
        super().__init__()
        self.n_users, self.n_items, self.genotype = n_users, n_items, genotype
        dim = genotype.dim
        self.embedding = nn.Parameter(torch.empty(n_users + n_items, dim))
        self.node_inputs = nn.ModuleList(
            nn.ModuleList(make_op(op, dim, op_options) for _, op in node.inputs)
            for node in genotype.nodes)
        self.activations = nn.ModuleList(make_activation(n.activation) for n in genotype.nodes)
        self.aggregation = LayerAggregation(genotype.aggregation, len(genotype.nodes) + 1, dim)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.embedding, std=0.1)
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, graph):
        states = [self.embedding]
        for node, ops, activation in zip(self.genotype.nodes, self.node_inputs, self.activations):
            total = None
            for (source, _), op in zip(node.inputs, ops):
                out = op(states[source], graph)
                total = out if total is None else total + out
            states.append(self.dropout(activation(total)))
        return self.aggregation(states)
