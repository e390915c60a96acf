"""Single-path one-shot with aging evolution (--strategy evolution): mutation keeps genotypes
valid and changes one choice, evolution finds the best of a planted fitness, and a killed and
resumed run equals a straight one (in the evolution alone and in a whole search)."""
import copy
import random

import pytest
import torch

from recnas.app.config import RunConfig
from recnas.app.jobs import run
from recnas.supernet.derive import derive
from recnas.supernet.evolution import Evolution, evolve, mutate
from recnas.models.genotype import Genotype, sample
from recnas.supernet.model import ArchWeights
from recnas.models.space import SearchSpace

from helpers import Killed, kill_after_save, small_dataset


def choices(genotype):
    """Every choice of a single-input genotype, by name."""
    named = {"aggregation": genotype.aggregation}
    for j, node in enumerate(genotype.nodes, 1):
        named.update({f"input {j}": node.inputs[0][0], f"op {j}": node.inputs[0][1],
                      f"activation {j}": node.activation})
    return named


@pytest.mark.parametrize("space", [SearchSpace(), SearchSpace(n_nodes=1),
                                   SearchSpace(n_nodes=4, ops=("lightgcn", "skip", "zero"))],
                         ids=["default", "one node", "two ops"])
def test_mutation_keeps_genotypes_valid_and_changes_exactly_one_choice(space):
    rng = random.Random(0)
    like = torch.zeros(1)
    for _ in range(300):
        parent = sample(space, 16, rng)
        before = copy.deepcopy(parent)
        child = mutate(parent, space, rng)
        assert choices(parent) == choices(before)                      # the parent is untouched
        changed = [k for k, v in choices(child).items() if choices(parent)[k] != v]
        assert len(changed) == 1, changed
        again = Genotype.from_dict(child.to_dict())                    # schema validation
        assert all(len(n.inputs) == 1 and n.inputs[0][1] in space.computed_ops
                   for n in again.nodes)
        assert again.nodes[0].inputs[0][0] == 0
        assert {n.activation for n in again.nodes} <= set(space.activations)
        assert again.aggregation in space.aggregations and again.dim == 16
        ArchWeights.of_genotype(again, space, like)                    # the supernet can run it


def planted_fitness(space, seed=123):
    """A fitness table: each choice that agrees with a hidden target genotype scores 1, and
    some choices count more, so the landscape has plateaus of unequal height."""
    target = choices(sample(space, 8, random.Random(seed)))
    weight = {name: 1 + (i % 3) for i, name in enumerate(target)}
    calls = []

    def fitness(genotype):
        calls.append(genotype.short())
        return sum(weight[k] for k, v in choices(genotype).items() if target[k] == v)

    return fitness, target, sum(weight.values()), calls


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_finds_the_best_genotype_of_a_planted_fitness(seed):
    space = SearchSpace()
    fitness, target, top, calls = planted_fitness(space)
    evolution = evolve(fitness, space, 8, seed, population=20, tournament=5, cycles=400)
    best = evolution.best()[0]
    assert choices(best) == target and evolution.scored[best.short()][0] == top
    assert len(calls) == len(set(calls)) == len(evolution.scored)   # each genotype scored once
    assert len(evolution.population) == 20 and evolution.cycles == 400


def test_random_sampling_alone_does_not_find_it():
    """The planted problem is not trivial: as many random genotypes as evolution scores miss."""
    space = SearchSpace()
    fitness, target, top, _ = planted_fitness(space)
    evolution = evolve(fitness, space, 8, 0, population=20, tournament=5, cycles=400)
    rng = random.Random(0)
    assert max(fitness(sample(space, 8, rng)) for _ in range(len(evolution.scored))) < top


def test_evolution_stopped_and_continued_equals_a_straight_run():
    space = SearchSpace()
    fitness = planted_fitness(space)[0]
    straight = evolve(fitness, space, 8, 5, population=10, tournament=3, cycles=60)
    saved = {}

    class Killed(Exception):
        pass

    def die_at_25(state, _):
        if state.cycles == 25:
            saved.update(copy.deepcopy(state.state_dict()))
            raise Killed

    with pytest.raises(Killed):
        evolve(fitness, space, 8, 5, population=10, tournament=3, cycles=60,
               after_cycle=die_at_25)
    resumed = evolve(fitness, space, 8, 5, population=10, tournament=3, cycles=60,
                     evolution=Evolution.from_state_dict(saved))
    assert resumed.state_dict() == straight.state_dict()


def small_config(tmp_path, out, **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt", n_users=60, n_items=40)),
                    out=str(tmp_path / out), device="cpu", epochs=2, dim=8, batch_size=32,
                    nodes=2, gat_heads=2, strategy="evolution", population=6, tournament=3,
                    cycles=25)
    settings.update(overrides)
    return RunConfig.from_flat("search", **settings)


def test_evolution_search_killed_in_the_evolution_resumes_as_a_straight_run(tmp_path,
                                                                            monkeypatch):
    straight = run(small_config(tmp_path, "straight"))
    restore = kill_after_save(monkeypatch, lambda state: state["evolution"] is not None
                              and state["evolution"]["cycles"] == 10)
    with pytest.raises(Killed):
        run(small_config(tmp_path, "killed"))
    restore()
    resumed = run(small_config(tmp_path, "killed"), resume=True)
    assert resumed["evolution"] == straight["evolution"] and resumed["evolution"]["cycles"] == 25
    assert resumed["genotype"] == straight["genotype"] and resumed["val"] == straight["val"]
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False)
            for d in ("straight", "killed"))
    assert a["evolution"] == b["evolution"]
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

    # derive.py and train.py --genotype take its result unchanged
    genotype = derive(tmp_path / "straight")
    assert genotype.to_dict()["nodes"] == straight["genotype"]["nodes"]
    assert genotype.short() == straight["evolution"]["best"][0]["genotype"]
    retrained = run(RunConfig.from_flat(
        "retrain", dataset=str(tmp_path / "inter.txt"), out=str(tmp_path / "retrain"),
        device="cpu", epochs=2, batch_size=32, genotype=str(tmp_path / "straight" /
                                                               "genotype.json")))
    assert retrained["genotype"]["nodes"] == straight["genotype"]["nodes"]


def test_evolution_logs_population_fitness_to_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run(small_config(tmp_path, "run", cycles=12))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    best = [s.value for s in events.Scalars("evolution/best_ever")]
    assert len(best) == 13 and best == sorted(best)                 # cycles 0..12, never worse
    assert len(events.Scalars("evolution/child")) == 12
    assert "evolution/population_mean" in events.Tags()["scalars"]
