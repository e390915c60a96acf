"""Retraining a genotype standalone: select the epoch on validation (early stopping), optionally
refit on train + validation for that many epochs, score test once, save the serving bundle."""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from recnas.data.graph import BipartiteGraph
from recnas.evaluation.metrics import RankingEvaluator, score_test
from recnas.evaluation.serving import save_bundle
from recnas.ops import make_op
from recnas.runtime import checkpoint, distributed
from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option
from recnas.runtime.progress import log
from recnas.models.genotype import GenotypeError, resolve
from recnas.training.fit import fit
from recnas.models.losses import Loss
from recnas.models.net import StandaloneNet


@dataclass
class RetrainConfig:
    """Standalone training of a genotype (train.py --genotype); also each random-search trial."""
    genotype: Optional[str] = option(
        None, "retrain this architecture standalone: a genotype.json from derive.py or a "
              "built-in: lightgcn, gcn, sage, gat, mf; a file's width and hyper-parameters apply "
              "where no flag sets them", metavar="FILE|NAME", default_help="search")
    epochs: int = option(200, "training epochs", cli=False)   # the flag --epochs is the mode's
    eval_every: int = option(1, "epochs between validation evaluations")
    patience: int = option(10, "evaluations without a better val recall before early stopping")
    refit: bool = option(False, "after early stopping, retrain on train + val for the chosen "
                                "epochs")
    checkpoint_seconds: float = option(60.0, "retraining: least seconds between checkpoints; a "
                                             "search saves every epoch")
    time_limit: Optional[float] = option(
        None, "retraining: stop selecting the epoch after this many seconds of training and "
              "validation; the best epoch so far is kept", metavar="SECONDS", default_help="none")
    ignore_fingerprint: bool = option(False, "retrain a genotype.json that was searched on "
                                             "other data")


def new_model(genotype, data, config, device):
    return StandaloneNet(data.n_users, data.n_items, genotype, config.train,
                         config.train.dropout).to(device)


def validation_evaluator(data, config, device):
    """Scores the validation split with the training items masked; None when it is empty."""
    if not len(data.val):
        return None
    return RankingEvaluator(data.val, [data.train], data.n_users, data.n_items, config.topk,
                            config.eval_chunk_size, device)


@torch.no_grad()
def representations(model, graph):
    """The model's (N, d) user and item vectors in evaluation mode."""
    model.eval()
    return model(graph)


def finish(model, graph, genotype, data, config, run_dir, device):
    """Score test once and save what serving needs (model.pt); returns the test metrics."""
    reps = representations(model, graph)
    save_bundle(run_dir, model, reps, genotype, data, config)
    return score_test(reps, data, config, device)


def check_provenance(genotype, data, config, source):
    """A genotype derived on other data than this run's is refused: with the same dataset and
    another split, its search saw this run's test items."""
    searched = genotype.provenance.get("dataset", {}).get("fingerprint")
    ours = data.fingerprint
    if searched is None or searched == ours or config.retrain.ignore_fingerprint:
        return
    raise GenotypeError(source, f"was searched on data with fingerprint {searched[:12]}, but this "
                                f"run's data ({data.name}) has {ours[:12]}: with another split "
                                "of the same dataset the search saw this run's test items. "
                                "Use the search's --dataset, --seed and fractions, or pass "
                                "--ignore-fingerprint to retrain on other data on purpose")


def check_dropout(config):
    if not 0 <= config.train.dropout < 1:
        raise ConfigError(f"--dropout must be in [0, 1), not {config.train.dropout}")


def check(config, data):
    """Refuse a retraining that cannot work, before anything is written."""
    Loss.of(config.train)
    check_dropout(config)
    if config.retrain.genotype is None:
        raise ConfigError("retraining needs --genotype FILE|NAME")
    genotype = resolve(config.retrain.genotype, config.train.dim)
    check_provenance(genotype, data, config, config.retrain.genotype)
    for node in genotype.nodes:                     # e.g. a width the GAT heads do not divide
        for _, op in node.inputs:
            make_op(op, genotype.dim, config.train)
    if config.retrain.refit and not len(data.val):
        raise ConfigError("--refit needs a validation split to choose the epoch "
                          "(--val-fraction is 0 or every user has too few interactions)")


def retrain(config, data, graph, run_dir, device):
    """Select the epoch on validation, optionally refit on train + val, score test once.
    Continues from RUN_DIR's checkpoint when there is one (``train.py --resume``)."""
    r = config.retrain
    genotype = resolve(r.genotype, config.train.dim)
    val_eval = validation_evaluator(data, config, device)
    if val_eval is None:
        log.info("no validation split: training all epochs without early stopping")
    log.info(f"retraining {r.genotype} with the {Loss.of(config.train).name} loss:\n"
             f"{genotype.describe()}")
    state = checkpoint.load(run_dir, "retrain", device, data.fingerprint,
                            resuming=True)
    writer = distributed.summary_writer(run_dir / "tensorboard")
    writer.add_text("architecture", "    " + genotype.describe().replace("\n", "\n    "))
    selection = state["selection"] if state is not None and state["phase"] == "refit" else None
    if selection is None:
        torch.manual_seed(config.seed)
        model = new_model(genotype, data, config, device)
        progress = fit(model, graph, data.train, config, device, r.epochs, val_eval,
                       writer=writer, time_limit=r.time_limit,
                       resume=state["fit"] if state else None,
                       save=lambda fit_state: checkpoint.save(
                           run_dir, "retrain", phase="select", fit=fit_state,
                           dataset=data.record()))
        stopping = progress.stopping
        selection = {"epoch": stopping.best_epoch if stopping else progress.epoch,
                     "val": stopping.best_metrics if stopping else None,
                     "history": progress.history, "seconds": progress.seconds}
        state = None
    seconds = selection["seconds"]
    if r.refit:
        log.info(f"refit: training a fresh model on train + val for {selection['epoch']} epochs")
        train_val = np.concatenate([data.train, data.val])
        graph = BipartiteGraph.from_pairs(train_val, data.n_users, data.n_items).to(device)
        torch.manual_seed(config.seed)
        model = new_model(genotype, data, config, device)
        seconds += fit(model, graph, train_val, config, device, selection["epoch"],
                       label="refit ", writer=writer, resume=state["fit"] if state else None,
                       save=lambda fit_state: checkpoint.save(
                           run_dir, "retrain", phase="refit", selection=selection,
                           fit=fit_state, dataset=data.record())).seconds
    test_metrics = finish(model, graph, genotype, data, config, run_dir, device)
    writer.add_text("chosen epoch", f"{selection['epoch']} (on validation"
                                    f"{'; then refit on train + validation' if r.refit else ''})")
    writer.close()
    return {"mode": "retrain", "genotype": genotype.to_dict(), "val": selection["val"],
            "test": test_metrics, "epoch": selection["epoch"], "refit": r.refit,
            "train_seconds": seconds, "history": selection["history"]}
