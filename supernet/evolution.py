"""Aging (regularized) evolution over genotypes (Real et al. 2019, "Regularized evolution for
image classifier architecture search"), the search half of single-path one-shot (SPOS; Guo et
al. 2020): the supernet is trained on uniformly sampled paths (``--strategy evolution``), then
every genotype evolution proposes is scored with the supernet's inherited weights.

The population starts with ``population`` random single-input genotypes. Each cycle draws
``tournament`` members at random, copies the fittest with one choice changed (``mutate``),
scores the child, adds it and removes the oldest member, so a genotype lives ``population``
cycles however good it is. The answer is the fittest genotype ever scored; the next fittest are
the selection stage's alternatives. Fitness is deterministic for a trained supernet, so a
genotype met again is not scored again.
"""
import copy
import random
from dataclasses import dataclass, field
from typing import Callable, Optional

from recnas.models.genotype import Genotype, sample
from recnas.models.space import SearchSpace


def mutate(genotype: Genotype, space: SearchSpace, rng: random.Random) -> Genotype:
    """A copy of single-input ``genotype`` with exactly one choice changed to another value the
    space allows: one node's input node, one node's op, one node's activation, or the
    aggregation (each of these choices equally likely)."""
    choices = [("aggregation", 0)] if len(space.aggregations) > 1 else []
    for j in range(1, len(genotype.nodes) + 1):
        choices += [("input", j)] if j > 1 else []          # node 1 can only read node 0
        choices += [("op", j)] if len(space.computed_ops) > 1 else []
        choices += [("activation", j)] if len(space.activations) > 1 else []
    if not choices:
        raise ValueError("the search space has a single architecture: nothing to mutate")
    child = copy.deepcopy(genotype)
    child.provenance = {}
    kind, j = rng.choice(choices)

    def other(values, current):
        return rng.choice([v for v in values if v != current])

    if kind == "aggregation":
        child.aggregation = other(space.aggregations, child.aggregation)
        return child
    node = child.nodes[j - 1]
    if kind == "input":
        node.inputs[0][0] = other(range(j), node.inputs[0][0])
    elif kind == "op":
        node.inputs[0][1] = other(space.computed_ops, node.inputs[0][1])
    else:
        node.activation = other(space.activations, node.activation)
    return child


@dataclass
class Evolution:
    """Where an aging evolution stands; ``state_dict`` / ``from_state_dict`` for checkpoints."""
    population: list = field(default_factory=list)   # [genotype short name, ...], oldest first
    scored: dict = field(default_factory=dict)       # short name -> (fitness, genotype dict)
    cycles: int = 0                                  # cycles done (after the first population)
    rng_state: Optional[tuple] = None

    def best(self, n=1):
        """The ``n`` fittest genotypes ever scored (None: all; ties: the one scored first)."""
        order = sorted(self.scored, key=lambda name: -self.scored[name][0])
        return [Genotype.from_dict(self.scored[name][1]) for name in order[:n]]

    def state_dict(self):
        return {"population": list(self.population), "scored": dict(self.scored),
                "cycles": self.cycles, "rng_state": self.rng_state}

    @classmethod
    def from_state_dict(cls, state):
        return cls(**state)


def evolve(fitness: Callable[[Genotype], float], space: SearchSpace, dim, seed, population=20,
           tournament=5, cycles=100, evolution: Optional[Evolution] = None,
           after_cycle: Optional[Callable[[Evolution, float], None]] = None) -> Evolution:
    """Aging evolution until ``cycles`` cycles are done, continuing ``evolution`` when given
    (exactly as if never stopped). ``fitness``: higher is better. ``after_cycle(evolution,
    child_fitness)`` is called after the first population (child fitness None) and after each
    cycle: where a checkpoint is written and progress logged."""
    if population < 2 or not 2 <= tournament <= population or cycles < 0:
        raise ValueError("need population >= 2, 2 <= tournament <= population, cycles >= 0")
    state = evolution or Evolution()
    rng = random.Random(seed)
    if state.rng_state is not None:
        rng.setstate(state.rng_state)

    def score(genotype):
        name = genotype.short()
        if name not in state.scored:
            state.scored[name] = (float(fitness(genotype)), genotype.to_dict())
        return name

    if not state.population:
        state.population = [score(sample(space, dim, rng)) for _ in range(population)]
        state.rng_state = rng.getstate()
        if after_cycle:
            after_cycle(state, None)
    while state.cycles < cycles:
        contestants = rng.sample(state.population, tournament)
        parent = max(contestants, key=lambda name: state.scored[name][0])
        child = score(mutate(Genotype.from_dict(state.scored[parent][1]), space, rng))
        state.population = state.population[1:] + [child]
        state.cycles += 1
        state.rng_state = rng.getstate()
        if after_cycle:
            after_cycle(state, state.scored[child][0])
    return state
