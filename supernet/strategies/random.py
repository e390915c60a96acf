"""Random search: the baseline a search must beat. Sample architectures of the search space,
retrain each with early stopping, keep the best by validation Recall@K; test is scored once, for
the chosen architecture.

A checkpoint after every trial (the trials so far, the best one's weights, the sampler's random
state, the time spent) lets ``--resume`` continue with the next trial; a trial that was cut off
is run again from its start, which gives the same result."""
import copy
import random
import time
from dataclasses import dataclass
from typing import Optional

import torch

from recnas.runtime import checkpoint, distributed
from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option
from recnas.runtime.progress import format_seconds, log
from recnas.models.space import space_of
from recnas.supernet.strategies.base import Strategy, check_space
from recnas.models.genotype import Genotype, sample
from recnas.training.fit import fit
from recnas.training.retrain import check_dropout, finish, new_model, validation_evaluator
from recnas.training.selection import candidate_config, with_settings


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


def random_search(config, data, graph, run_dir, device):
    """Trials until ``trials`` are done or ``budget_seconds`` have passed (the trial running
    then stops at its best epoch so far; the first trial trains at least one epoch); returns the
    results of the best architecture."""
    budget = config.random_search
    val_eval = validation_evaluator(data, config, device)
    space = space_of(config)
    rng = random.Random(config.seed)
    k = config.topk[0]
    trials, best, spent = [], None, 0.0
    state = checkpoint.load(run_dir, "random_search", device, data.fingerprint,
                            resuming=True)
    if state is not None:
        trials, best, spent = state["trials"], state["best"], state["seconds"]
        rng.setstate(state["rng"])
        log.info(f"resumed after {len(trials)} trials ({format_seconds(spent)})")
    writer = distributed.summary_writer(run_dir / "tensorboard", purge_step=len(trials) + 1)
    started = time.perf_counter() - spent
    while (budget.trials is None or len(trials) < budget.trials) and (
            budget.budget_seconds is None or not trials
            or distributed.agree(time.perf_counter() - started < budget.budget_seconds)):
        genotype = sample(space, config.train.dim, rng)
        if budget.sample_settings:
            genotype = with_settings(genotype, rng)
        trial_config = candidate_config(config, genotype)
        label = f"[trial {len(trials) + 1}] "
        log.info(f"{label}{genotype.short()}"
                 + (f"  dim {genotype.dim} {genotype.hyperparameters}"
                    if budget.sample_settings else ""))
        torch.manual_seed(config.seed)
        model = new_model(genotype, data, trial_config, device)
        trial_start = time.perf_counter()
        time_left = None if budget.budget_seconds is None else max(
            1e-9, budget.budget_seconds - distributed.agree(trial_start - started))
        stopping = fit(model, graph, data.train, trial_config, device, config.retrain.epochs,
                       val_eval, label, quiet=True, time_limit=time_left).stopping
        metrics, seconds = stopping.best_metrics, time.perf_counter() - trial_start
        trials.append({"genotype": genotype.short(), "dim": genotype.dim,
                       "hyperparameters": genotype.hyperparameters, "epoch": stopping.best_epoch,
                       "val_recall": metrics[f"recall@{k}"], "val_ndcg": metrics[f"ndcg@{k}"],
                       "seconds": seconds})
        log.info(f"{label}val recall@{k} {metrics[f'recall@{k}']:.4f} at epoch "
                 f"{stopping.best_epoch} ({format_seconds(seconds)})")
        if best is None or metrics[f"recall@{k}"] > best["val"][f"recall@{k}"]:
            best = {"genotype": genotype.to_dict(), "model": copy.deepcopy(model.state_dict()),
                    "val": metrics, "epoch": stopping.best_epoch}
        _log_trial(writer, len(trials), trials[-1], best["val"][f"recall@{k}"], k)
        checkpoint.save(run_dir, "random_search", trials=trials, best=best, rng=rng.getstate(),
                        seconds=time.perf_counter() - started, dataset=data.record())
    writer.close()
    genotype = Genotype.from_dict(best["genotype"])
    best_config = candidate_config(config, genotype)
    model = new_model(genotype, data, best_config, device)
    model.load_state_dict(best["model"])
    test_metrics = finish(model, graph, genotype, data, best_config, run_dir, device)
    genotype.save(run_dir / "genotype.json")
    log.info(f"random search: {len(trials)} trials in "
             f"{format_seconds(time.perf_counter() - started)}; best by validation:\n"
             f"{genotype.describe()}")
    return {"mode": "random_search", "genotype": genotype.to_dict(), "val": best["val"],
            "test": test_metrics, "epoch": best["epoch"], "trials": trials}


def _log_trial(writer, n, trial, best_recall, k):
    """TensorBoard: each trial's validation score and the best so far, by trial number."""
    writer.add_scalar(f"trial/val_recall@{k}", trial["val_recall"], n)
    writer.add_scalar(f"trial/val_ndcg@{k}", trial["val_ndcg"], n)
    writer.add_scalar(f"trial/best_val_recall@{k}", best_recall, n)
    writer.add_scalar("trial/chosen_epoch", trial["epoch"], n)
    writer.add_text("trial/architecture", trial["genotype"], n)
    writer.flush()
