"""One object per search strategy, one registry: the command line offers what the registry
holds, each strategy's options are search options, a checkpoint names its strategy and derive
rebuilds it from there (also from a checkpoint that predates the name)."""
import dataclasses
from pathlib import Path

import pytest
import torch

import recnas.train as train
from recnas.app.config import RunConfig
from recnas.app.jobs import run
from recnas.models.genotype import Genotype
from recnas.runtime.errors import ConfigError
from recnas.supernet.derive import derive
from recnas.supernet.settings import SearchConfig
from recnas.supernet.strategies import STRATEGIES, Strategy

from helpers import small_dataset


def small_config(tmp_path, strategy, **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt")), strategy=strategy,
                    out=str(tmp_path / strategy), device="cpu", epochs=2, dim=8,
                    batch_size=32, warmup_epochs=1, nodes=2, gat_heads=2, population=3,
                    tournament=2, cycles=2, controller_steps=2)
    settings.update(overrides)
    return RunConfig.from_flat("search", **settings)


def test_the_command_line_offers_the_registry():
    action = next(a for a in train.build_parser()._actions if a.dest == "strategy")
    assert tuple(action.choices) == tuple(STRATEGIES)
    search_options = {f.name for f in dataclasses.fields(SearchConfig)}
    for strategy in STRATEGIES.values():
        assert issubclass(strategy, Strategy)
        if strategy.one_shot and strategy.Options is not None:
            assert {f.name for f in dataclasses.fields(strategy.Options)} <= search_options


@pytest.mark.parametrize("name", ["darts", "gdas", "evolution", "reinforce"])
def test_the_checkpoint_names_its_strategy_and_derive_reads_it(tmp_path, name):
    results = run(small_config(tmp_path, name))
    path = Path(tmp_path / name / "checkpoint.pt")
    state = torch.load(path, weights_only=False)
    assert state["strategy"] == name
    exported = derive(tmp_path / name)               # the search's own final genotype
    assert exported.short() == Genotype.from_dict(results["genotype"]).short()
    # a checkpoint from before strategies were named: the saved config says which it was
    del state["strategy"]
    torch.save(state, path)
    again = derive(tmp_path / name)
    assert again.short() == exported.short()


def test_alpha_rules_are_refused_for_strategies_without_alpha(tmp_path):
    run(small_config(tmp_path, "reinforce"))
    with pytest.raises(ConfigError, match="reinforce search does not train"):
        derive(tmp_path / "reinforce", method="perturbation")


def test_an_evolution_that_has_not_evolved_says_so(tmp_path):
    run(small_config(tmp_path, "evolution"))
    path = tmp_path / "evolution" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    state["evolution"] = None                       # as saved while its paths still train
    torch.save(state, path)
    with pytest.raises(ConfigError, match="has not evolved yet"):
        derive(tmp_path / "evolution")


def test_each_strategy_checks_its_own_options(tmp_path):
    data = small_dataset(tmp_path / "inter.txt")
    for strategy, bad in (("evolution", {"tournament": 9}), ("reinforce", {"controller_lr": 0}),
                          ("gdas", {"order": 2})):
        with pytest.raises(ConfigError, match=strategy if strategy != "gdas" else "order 2"):
            run(small_config(tmp_path, strategy, dataset=str(data), **bad))
