"""A REINFORCE controller over single-path genotypes (``--strategy reinforce``; Williams 1992,
as in ENAS, Pham et al. 2018, with independent logits per choice instead of ENAS's RNN).

The policy draws, independently: per node one (input node, op) pair, per node an activation,
and the aggregation. A step samples a genotype, takes its reward (validation Recall@K of that
path with the supernet's shared weights), and ascends (reward − baseline) · ∇ log π(genotype)
plus ``entropy_weight`` · ∇ entropy; the baseline is an exponential moving average of the
rewards. The logits start at 0: the first paths are uniform, as SPOS's.
"""
from dataclasses import dataclass

import torch
from torch import nn

from recnas.models.genotype import Genotype, NodeChoice
from recnas.models.space import SearchSpace
from recnas.runtime.options import option


@dataclass
class ReinforceOptions:
    """reinforce: its controller"""
    controller_steps: int = option(50, "reinforce: controller updates per epoch after the "
                                       "warm-up, each on one sampled path")
    controller_lr: float = option(0.01, "reinforce: Adam learning rate of the controller")
    entropy_weight: float = option(1e-3, "reinforce: weight of the policy's entropy bonus")
    baseline_decay: float = option(0.95, "reinforce: decay of the rewards' moving-average "
                                         "baseline")


class Controller(nn.Module):
    def __init__(self, space: SearchSpace, options: ReinforceOptions = ReinforceOptions()):
        """``options``: anything with ReinforceOptions's fields (the run's search config)."""
        super().__init__()
        lr = options.controller_lr
        self.space, self.entropy_weight = space, options.entropy_weight
        self.baseline_decay = options.baseline_decay
        n_ops = len(space.computed_ops)
        self.input_logits = nn.ParameterList(
            [nn.Parameter(torch.zeros(j * n_ops)) for j in range(1, space.n_nodes + 1)])
        self.activation_logits = nn.Parameter(torch.zeros(space.n_nodes, len(space.activations)))
        self.aggregation_logits = nn.Parameter(torch.zeros(len(space.aggregations)))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        self.baseline = None

    def _distributions(self):
        """One Categorical per choice: node inputs, node activations, the aggregation."""
        return ([torch.distributions.Categorical(logits=l) for l in self.input_logits]
                + [torch.distributions.Categorical(logits=l) for l in self.activation_logits]
                + [torch.distributions.Categorical(logits=self.aggregation_logits)])

    def sample(self):
        """(genotype choice indices, sum of their log-probabilities, summed entropy); draws from
        torch's global generator, which checkpoints save."""
        distributions = self._distributions()
        choices = [d.sample() for d in distributions]
        log_prob = sum(d.log_prob(c) for d, c in zip(distributions, choices))
        entropy = sum(d.entropy() for d in distributions)
        return [int(c) for c in choices], log_prob, entropy

    def mode(self):
        """The most likely choice indices."""
        return [int(d.probs.argmax()) for d in self._distributions()]

    def entropy(self):
        with torch.no_grad():
            return float(sum(d.entropy() for d in self._distributions()))

    def genotype(self, choices, dim) -> Genotype:
        """The genotype of choice indices (from ``sample`` or ``mode``)."""
        space, n = self.space, self.space.n_nodes
        n_ops = len(space.computed_ops)
        nodes = [NodeChoice([[c // n_ops, space.computed_ops[c % n_ops]]],
                            space.activations[choices[n + j]])
                 for j, c in enumerate(choices[:n])]
        return Genotype(nodes, space.aggregations[choices[-1]], dim)

    def alternatives(self, n, dim):
        """Up to ``n`` genotypes (None: all) next to the mode: one choice changed to another
        value, the most likely first."""
        best, options = self.mode(), []
        for i, d in enumerate(self._distributions()):
            log_probs = d.logits.detach() - d.logits.detach().logsumexp(-1)
            for value in range(len(log_probs)):
                if value != best[i]:
                    options.append((float(log_probs[best[i]] - log_probs[value]), i, value))
        genotypes = []
        for _, i, value in sorted(options)[:n]:
            choices = list(best)
            choices[i] = value
            genotypes.append(self.genotype(choices, dim))
        return genotypes

    def step(self, reward_of):
        """One REINFORCE update on one sampled genotype; ``reward_of(choices)`` -> float.
        Returns (reward, advantage)."""
        choices, log_prob, entropy = self.sample()
        reward = float(reward_of(choices))
        baseline = reward if self.baseline is None else self.baseline
        advantage = reward - baseline
        loss = -advantage * log_prob - self.entropy_weight * entropy
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * reward
        return reward, advantage

    def state(self):
        return {"logits": self.state_dict(), "optimizer": self.optimizer.state_dict(),
                "baseline": self.baseline}

    def load(self, state):
        self.load_state_dict(state["logits"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
