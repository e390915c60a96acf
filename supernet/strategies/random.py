"""Random search: the baseline a search must beat. Draw architectures of the search space
(Optuna's seeded random sampler), retrain each with early stopping, keep the best by validation
Recall@K; test is scored once, for the chosen architecture.

The trials live in an Optuna study (RUN_DIR/study.db), and the best trial's weights in
RUN_DIR/best.pt, so ``--resume`` continues with the next trial; a trial that was cut off is run
again from its start, which gives the same result."""
from dataclasses import dataclass
from typing import Optional

import torch

from recnas.models.genotype import Genotype, NodeChoice
from recnas.models.space import space_of
from recnas.runtime import distributed
from recnas.runtime.errors import ConfigError
from recnas.runtime.files import save_torch
from recnas.runtime.options import option
from recnas.runtime.progress import log
from recnas.supernet.strategies.base import Strategy, check_space
from recnas.training import selection
from recnas.training.retrain import check_dropout, finish, new_model

@dataclass
class RandomSearchConfig:
    """Random search (train.py --strategy random): trials over the search space of ``search``,
    each trained as ``retrain`` says; with ``sample_settings`` each trial also draws its training
    settings as the selection stage does (the joint space of --then-select)."""
    trials: Optional[int] = option(None, "random search: architectures to try",
                                   default_help="none")
    budget_seconds: Optional[float] = option(None, "random search: wall-clock budget",
                                             default_help="none")
    sample_settings: bool = option(False, "random search: each trial also draws width, lr, L2, "
                                          "loss, temperature and negatives (the settings "
                                          "--then-select searches)")


class RandomSearch(Strategy):
    """The registry's entry for random search: not a supernet; its job is ``random_search``
    (app/jobs.py runs it for ``--strategy random``)."""
    name = "random"
    one_shot = False
    Options = RandomSearchConfig


def check(config, data):
    """Refuse a random search that cannot work, before anything is written."""
    check_space(config, data)
    Strategy.check(config)
    check_dropout(config)
    budget = config.random_search
    if budget.trials is None and budget.budget_seconds is None:
        raise ConfigError("--strategy random needs --trials N or --budget-seconds S")


def suggest_architecture(trial, space, dim):
    """An architecture of ``space`` drawn from ``trial``: each node's input, op and activation,
    the output's aggregation (one input per node, as genotype.sample)."""
    nodes = [NodeChoice([[trial.suggest_int(f"node{j}_input", 0, j - 1),
                          trial.suggest_categorical(f"node{j}_op", list(space.computed_ops))]],
                        trial.suggest_categorical(f"node{j}_activation", list(space.activations)))
             for j in range(1, space.n_nodes + 1)]
    return Genotype(nodes, trial.suggest_categorical("aggregation", list(space.aggregations)),
                    dim)


def random_search(config, data, graph, run_dir, device):
    """Trials until ``trials`` are done or ``budget_seconds`` have passed (the trial running
    then stops at its best epoch so far, and counts when no trial finished); returns the results
    of the best architecture."""
    budget, space = config.random_search, space_of(config)
    study = selection.open_study(selection.sqlite_url(run_dir / "study.db"),
                                 "recnas-random-search", config.seed, "random") \
        if distributed.is_main() else None

    def genotype_of(trial):
        genotype = suggest_architecture(trial, space, config.train.dim)
        if budget.sample_settings:
            genotype.dim, genotype.hyperparameters = selection.suggest_settings(trial, config)
        return genotype

    def keep_best(number, model):
        save_torch(run_dir / "best.pt", {"trial": number, "model": model.state_dict()})

    writer = distributed.summary_writer(run_dir / "tensorboard")
    selection.run_trials(study, genotype_of, data.without_test(), graph, config, device,
                         budget.trials or 2 ** 31, label="random search", writer=writer,
                         timeout=budget.budget_seconds, on_best=keep_best)
    writer.close()
    trials, best = None, None
    if study is not None:
        trials = selection.trials_table(study)
        winner = selection.best_trial(study, cut_too=True)
        best = {"number": winner.number, "genotype": winner.user_attrs["genotype"],
                "val": winner.user_attrs["val"], "epoch": winner.user_attrs["epoch"]}
    trials, best = distributed.broadcast((trials, best))
    genotype = Genotype.from_dict(best["genotype"])
    best_config = selection.candidate_config(config, genotype)
    model = new_model(genotype, data, best_config, device)
    saved = torch.load(run_dir / "best.pt", map_location=device, weights_only=False)
    assert saved["trial"] == best["number"], (saved["trial"], best["number"])
    model.load_state_dict(saved["model"])
    test_metrics = finish(model, graph, genotype, data, best_config, run_dir, device)
    genotype.save(run_dir / "genotype.json")
    log.info(f"random search: {len(trials)} trials; best by validation (trial "
             f"{best['number']}):\n{genotype.describe()}")
    return {"mode": "random_search", "genotype": genotype.to_dict(), "val": best["val"],
            "test": test_metrics, "epoch": best["epoch"],
            "trials": trials}
