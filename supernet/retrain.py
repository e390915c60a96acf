"""Standalone training of a genotype (retrain), and random search over genotypes.

Retraining: BPR on the training split, full-ranking validation every ``eval_every`` epochs,
early stopping on validation Recall@K (``patience`` evaluations), best weights restored, the test
split scored once at the end. ``refit``: then train a fresh model on train + validation for the
chosen number of epochs and score test with it.
"""
import copy
import math
import random
import time

import numpy as np
import torch

from data.graph import BipartiteGraph
from data.sampler import BPRSampler
from . import checkpoint
from .evaluate import RankingEvaluator
from .files import save_torch
from .genotype import Genotype, resolve, sample
from .loss import bpr_loss
from .search import TrainingDiverged, format_seconds
from .search_space import SearchSpace
from .standalone import StandaloneNet


def new_model(genotype, data, config, device):
    return StandaloneNet(data.n_users, data.n_items, genotype, config.gat_heads,
                         config.gat_dropout).to(device)


def fit(model, graph, train_pairs, config, device, epochs, evaluator=None, log=print, label="",
        resume=None, save=None):
    """Train ``model`` for up to ``epochs``; with an evaluator, stop early on its Recall@K and
    restore the best weights. Returns (best epoch, best metrics or None, history).

    ``save(state)`` gets everything needed to continue exactly (weights, optimizer, sampler and
    torch random states, the early-stopping bookkeeping) after an epoch once
    ``config.checkpoint_seconds`` have passed since the last save, and when training ends;
    ``resume`` is such a state to continue from. The loss is checked once per epoch, so a GPU
    never waits for the host inside an epoch.
    """
    k = config.topk[0]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    sampler = BPRSampler(train_pairs, model.n_users, model.n_items, seed=[config.seed, 1])
    progress = {"epoch": 0, "stopped": False, "best_epoch": epochs, "best_metrics": None,
                "best_state": None, "bad": 0, "history": [], "seconds": 0.0}
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        checkpoint.restore_rng(resume["rng"], [sampler])
        progress = resume["progress"]
        log(f"{label}resumed after epoch {progress['epoch']}")

    def save_now():
        save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "rng": checkpoint.rng_state([sampler]), "progress": progress})
        return time.perf_counter(), progress["epoch"]

    last_save, saved_epoch = time.perf_counter(), progress["epoch"]
    while not progress["stopped"] and progress["epoch"] < epochs:
        epoch_start = time.perf_counter()
        epoch = progress["epoch"] + 1
        model.train()
        total, steps = torch.zeros((), device=device), 0
        for steps, batch in enumerate(sampler.batches(config.batch_size, device), 1):
            loss, _ = bpr_loss(model(graph), model.embedding, *batch, model.n_users, config.l2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        record = {"epoch": epoch, "train_loss": total.item() / max(steps, 1)}
        if not math.isfinite(record["train_loss"]):
            raise TrainingDiverged(f"{label}training loss became {record['train_loss']} in "
                                   f"epoch {epoch}; lower --lr")
        report = epoch % config.eval_every == 0 or epoch == epochs
        line = f"{label}epoch {epoch}/{epochs}  train {record['train_loss']:.4f}"
        if evaluator is not None and report:
            model.eval()
            with torch.no_grad():
                reps = model(graph)
                metrics = evaluator(reps[:model.n_users], reps[model.n_users:])
            record.update({f"val_{m}": v for m, v in metrics.items() if "@" in m})
            best = progress["best_metrics"]
            improved = best is None or metrics[f"recall@{k}"] > best[f"recall@{k}"]
            if improved:
                progress.update(best_epoch=epoch, best_metrics=metrics, bad=0,
                                best_state=copy.deepcopy(model.state_dict()))
            else:
                progress["bad"] += 1
            progress["stopped"] = progress["bad"] >= config.patience
            line += (f"  val recall@{k} {metrics[f'recall@{k}']:.4f}  "
                     f"ndcg@{k} {metrics[f'ndcg@{k}']:.4f}{'  *' if improved else ''}")
        progress["seconds"] += time.perf_counter() - epoch_start
        record["seconds"] = progress["seconds"]
        progress["history"].append(record)
        progress["epoch"] = epoch
        if report:
            log(f"{line}  | {format_seconds(progress['seconds'])} training")
        if progress["stopped"]:
            log(f"{label}early stop: no better val recall@{k} in {progress['bad']} evaluations; "
                f"best epoch {progress['best_epoch']}")
        if save is not None and time.perf_counter() - last_save >= config.checkpoint_seconds:
            last_save, saved_epoch = save_now()
    if save is not None and saved_epoch != progress["epoch"]:
        save_now()
    if progress["best_state"] is not None:
        model.load_state_dict(progress["best_state"])
    return progress["best_epoch"], progress["best_metrics"], progress["history"]


def _evaluator(data, heldout, exclude, config, device, cold_start_fallback=False):
    """With ``cold_start_fallback``: users without training interactions are ranked by item
    popularity, as recommend.py serves them."""
    cold, popularity = cold_start(data) if cold_start_fallback else (None, None)
    return RankingEvaluator(heldout, exclude, data.n_users, data.n_items, config.topk,
                            config.eval_chunk_size, device, cold, popularity)


def cold_start(data):
    """(users with no training or validation interaction, float item popularity in them)."""
    seen = np.concatenate([data.train, data.val])
    cold = np.bincount(seen[:, 0], minlength=data.n_users) == 0
    popularity = np.bincount(seen[:, 1], minlength=data.n_items).astype(np.float32)
    return cold, popularity


@torch.no_grad()
def representations(model, graph):
    """The model's (N, d) user and item vectors in evaluation mode."""
    model.eval()
    return model(graph)


def score_test(reps, data, config, device):
    """Test metrics of representations (N, d): training and validation items masked, users
    without either ranked by popularity (as recommend.py serves them)."""
    evaluator = _evaluator(data, data.test, [data.train, data.val], config, device, True)
    return evaluator(reps[:data.n_users], reps[data.n_users:])


def finish(model, graph, genotype, data, config, run_dir, device):
    """Score test once and save what serving needs (model.pt); returns the test metrics."""
    reps = representations(model, graph)
    test_metrics = score_test(reps, data, config, device)
    cold, popularity = cold_start(data)
    save_torch(run_dir / "model.pt", {
        "model": model.state_dict(), "genotype": genotype.to_dict(), "config": config.to_dict(),
        "refit": config.refit, "representations": reps.float().cpu(),
        "n_users": data.n_users, "user_ids": data.user_ids.tolist(),
        "item_ids": data.item_ids.tolist(), "seen": np.concatenate([data.train, data.val]),
        "cold_users": cold, "popularity": popularity, "dataset": data.name})
    return test_metrics


def retrain(config, data, graph, run_dir, device, log=print):
    """Select the epoch on validation, optionally refit on train + val, score test once.
    Continues from RUN_DIR's checkpoint when there is one (``train.py --resume``)."""
    genotype = resolve(config.genotype, config.dim)
    log(f"retraining {config.genotype}:\n{genotype.describe()}")
    state = checkpoint.load(run_dir, device)
    selection = state["selection"] if state is not None and state["phase"] == "refit" else None
    if selection is None:
        torch.manual_seed(config.seed)
        model = new_model(genotype, data, config, device)
        val_eval = _evaluator(data, data.val, [data.train], config, device)
        best_epoch, val_metrics, history = fit(
            model, graph, data.train, config, device, config.epochs, val_eval, log,
            resume=state["fit"] if state else None,
            save=lambda fit_state: checkpoint.save(run_dir, phase="select", fit=fit_state))
        selection = {"epoch": best_epoch, "val": val_metrics, "history": history}
        state = None
    if config.refit:
        log(f"refit: training a fresh model on train + val for {selection['epoch']} epochs")
        train_val = np.concatenate([data.train, data.val])
        graph = BipartiteGraph.from_pairs(train_val, data.n_users, data.n_items).to(device)
        torch.manual_seed(config.seed)
        model = new_model(genotype, data, config, device)
        _, _, refit_history = fit(
            model, graph, train_val, config, device, selection["epoch"], log=log,
            label="refit ", resume=state["fit"] if state else None,
            save=lambda fit_state: checkpoint.save(run_dir, phase="refit", selection=selection,
                                                   fit=fit_state))
    test_metrics = finish(model, graph, genotype, data, config, run_dir, device)
    seconds = selection["history"][-1]["seconds"] if selection["history"] else 0.0
    if config.refit and refit_history:
        seconds += refit_history[-1]["seconds"]
    return {"mode": "retrain", "genotype": genotype.to_dict(), "val": selection["val"],
            "test": test_metrics, "epoch": selection["epoch"], "refit": config.refit,
            "train_seconds": seconds, "history": selection["history"]}


def random_search(config, data, graph, run_dir, device, log=print):
    """Sample architectures of the search space, retrain each with early stopping, keep the best
    by validation Recall@K; stops after ``trials`` or once ``budget_seconds`` have passed (the
    trial running then finishes). Test is scored once, for the chosen architecture.

    A checkpoint after every trial (the trials so far, the best one's weights, the sampler's
    random state, the time spent) lets ``--resume`` continue with the next trial; a trial that
    was cut off is run again from its start, which gives the same result."""
    if config.trials is None and config.budget_seconds is None:
        raise ValueError("--strategy random needs --trials N or --budget-seconds S")
    space = SearchSpace(n_nodes=config.n_nodes, ops=tuple(config.ops))
    rng = random.Random(config.seed)
    val_eval = _evaluator(data, data.val, [data.train], config, device)
    k = config.topk[0]
    trials, best, spent = [], None, 0.0
    state = checkpoint.load(run_dir, device)
    if state is not None:
        trials, best, spent = state["trials"], state["best"], state["seconds"]
        rng.setstate(state["rng"])
        log(f"resumed after {len(trials)} trials ({format_seconds(spent)})")
    started = time.perf_counter() - spent
    while (config.trials is None or len(trials) < config.trials) and (
            config.budget_seconds is None or time.perf_counter() - started < config.budget_seconds
            or not trials):
        genotype = sample(space, config.dim, rng)
        label = f"[trial {len(trials) + 1}] "
        log(f"{label}{genotype.short()}")
        torch.manual_seed(config.seed)
        model = new_model(genotype, data, config, device)
        trial_start = time.perf_counter()
        epoch, metrics, _ = fit(model, graph, data.train, config, device, config.epochs, val_eval,
                                lambda *a: None, label)
        trials.append({"genotype": genotype.short(), "epoch": epoch,
                       "val_recall": metrics[f"recall@{k}"], "val_ndcg": metrics[f"ndcg@{k}"],
                       "seconds": time.perf_counter() - trial_start})
        log(f"{label}val recall@{k} {metrics[f'recall@{k}']:.4f} at epoch {epoch} "
            f"({format_seconds(time.perf_counter() - trial_start)})")
        if best is None or metrics[f"recall@{k}"] > best["val"][f"recall@{k}"]:
            best = {"genotype": genotype.to_dict(), "model": copy.deepcopy(model.state_dict()),
                    "val": metrics, "epoch": epoch}
        checkpoint.save(run_dir, phase="random", trials=trials, best=best, rng=rng.getstate(),
                        seconds=time.perf_counter() - started)
    genotype = Genotype.from_dict(best["genotype"])
    model = new_model(genotype, data, config, device)
    model.load_state_dict(best["model"])
    test_metrics = finish(model, graph, genotype, data, config, run_dir, device)
    genotype.save(run_dir / "genotype.json")
    log(f"random search: {len(trials)} trials in {format_seconds(time.perf_counter() - started)};"
        f" best by validation:\n{genotype.describe()}")
    return {"mode": "random", "genotype": genotype.to_dict(), "val": best["val"],
            "test": test_metrics, "epoch": best["epoch"], "trials": trials}
