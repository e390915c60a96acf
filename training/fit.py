"""The training loop of a standalone network: epochs of the training loss, validation every
``eval_every`` epochs, early stopping with the best weights restored, and exact resume from a
saved state."""
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Optional

import torch

from recnas.data.sampler import BPRSampler
from recnas.runtime import checkpoint, distributed
from recnas.runtime.errors import TrainingDiverged
from recnas.runtime.progress import BatchProgress, format_seconds, log
from recnas.models.losses import Loss


@dataclass
class EarlyStopping:
    """The best evaluation so far and its weights; stops after ``patience`` evaluations in a
    row without a better ``metric``."""
    patience: int
    metric: str
    best_epoch: int = 0
    best_metrics: Optional[dict] = None
    best_state: Optional[dict] = None
    bad_evaluations: int = 0

    @property
    def stopped(self):
        return self.bad_evaluations >= self.patience

    def update(self, epoch, metrics, model):
        """Record an evaluation of ``model`` after ``epoch``; returns whether it is the best."""
        improved = self.best_metrics is None or \
            metrics[self.metric] > self.best_metrics[self.metric]
        if improved:
            self.best_epoch, self.best_metrics, self.bad_evaluations = epoch, metrics, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_evaluations += 1
        return improved


@dataclass
class FitProgress:
    """Where a fit stands: epochs done, training seconds so far, per-epoch history."""
    epoch: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)
    stopping: Optional[EarlyStopping] = None

    def state_dict(self):
        return {**vars(self), "stopping": None if self.stopping is None else vars(self.stopping)}

    @classmethod
    def from_state_dict(cls, state):
        stopping = state["stopping"]
        return cls(**{**state, "stopping": None if stopping is None else EarlyStopping(**stopping)})


def check_finite(total_loss, what, epoch, run_dir=None, saved_epoch=None):
    """Raise TrainingDiverged when an epoch's summed loss is NaN or infinite (checked once per
    epoch, so a GPU never waits for the host inside an epoch)."""
    if math.isfinite(total_loss):
        return
    where = f" in {run_dir}" if run_dir is not None else ""
    saved = epoch - 1 if saved_epoch is None else saved_epoch
    kept = (f"the checkpoint of epoch {saved}{where} is intact; lower the learning rate and "
            f"continue with --resume") if saved else "no checkpoint was written yet; lower the " \
                                                      "learning rate"
    raise TrainingDiverged(f"{what} loss became {total_loss} in epoch {epoch}: {kept}")


def fit(model, graph, train_pairs, config, device, epochs, evaluator=None, label="", quiet=False,
        resume=None, save=None, writer=None, time_limit=None, on_validation=None):
    """Train ``model`` for up to ``epochs``; with an evaluator, stop early on its Recall@K and
    restore the best weights (``epochs`` 0: evaluate the untrained model). Returns the
    FitProgress (``stopping`` holds the best epoch and metrics).

    ``save(state)`` gets everything needed to continue exactly (weights, optimizer, sampler and
    torch random states, the progress) after an epoch once ``checkpoint_seconds`` have passed
    since the last save, and when training ends; ``resume`` is such a state to continue from.
    ``writer``: a TensorBoard SummaryWriter for the loss and validation curves (tags start with
    ``label``). ``time_limit``: stop once training (and validation) took this many seconds,
    summed over resumed invocations; the best epoch so far is kept. ``on_validation(epoch,
    best)``: called after each validation with the best validation Recall@K so far (a tuner's
    report; it may raise to stop the training, e.g. optuna.TrialPruned).
    """
    say = log.debug if quiet else log.info
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, fused=True)
    sampler = BPRSampler(train_pairs, model.n_users, model.n_items, seed=[config.seed, 1])
    progress = FitProgress(stopping=None if evaluator is None else EarlyStopping(
        config.retrain.patience, f"recall@{config.topk[0]}"))
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        checkpoint.restore_rng(resume["rng"], [sampler])
        progress = FitProgress.from_state_dict(resume["progress"])
        say(f"{label}resumed after epoch {progress.epoch}")
    if epochs == 0 and evaluator is not None:
        progress.stopping.update(0, _validate(model, graph, evaluator), model)

    def save_now():
        save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "rng": checkpoint.rng_state([sampler]), "progress": progress.state_dict()})
        return time.perf_counter(), progress.epoch

    last_save, saved_epoch = time.perf_counter(), progress.epoch
    stopping = progress.stopping
    while not (stopping and stopping.stopped) and progress.epoch < epochs and not (
            time_limit is not None and progress.seconds >= time_limit):
        _epoch(model, graph, sampler, optimizer, config, device, epochs, evaluator, progress,
               label, say, saved_epoch, writer)
        if on_validation is not None and stopping is not None and \
                f"val_recall@{config.topk[0]}" in progress.history[-1]:
            on_validation(progress.epoch, stopping.best_metrics[stopping.metric])
        if save is not None and distributed.agree(
                time.perf_counter() - last_save >= config.retrain.checkpoint_seconds):
            last_save, saved_epoch = save_now()
    if time_limit is not None and progress.seconds >= time_limit and progress.epoch < epochs:
        say(f"{label}time limit: stopped after {format_seconds(progress.seconds)} of training")
    if save is not None and saved_epoch != progress.epoch:
        save_now()
    if stopping is not None and stopping.best_state is not None:
        model.load_state_dict(stopping.best_state)
    return progress


def _validate(model, graph, evaluator):
    model.eval()
    with torch.no_grad():
        reps = model(graph)
        return evaluator(reps[:model.n_users], reps[model.n_users:])


def _epoch(model, graph, sampler, optimizer, config, device, epochs, evaluator, progress, label,
           say, saved_epoch, writer):
    """One training epoch, then (when due) a validation that updates the early stopping."""
    epoch_start = time.perf_counter()
    epoch, k, batch_size = progress.epoch + 1, config.topk[0], config.train.batch_size
    model.train()
    total, steps = torch.zeros((), device=device), 0
    shard = distributed.shard()
    bar = BatchProgress(f"{label}epoch {epoch}", -(-len(sampler) // (batch_size * shard[1])))
    loss_fn = Loss.of(config.train)
    for steps, batch in enumerate(sampler.batches(batch_size, device, loss_fn.shared_negatives,
                                                  shard), 1):
        loss, _ = loss_fn.on(model(graph), model.embedding, batch, model.n_users)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        total += distributed.average_gradients(model.parameters(), loss,
                                               len(batch.users) / batch.rows)
        optimizer.step()
        bar.step()
    check_finite(total.item(), f"{label}training", epoch, saved_epoch=saved_epoch)
    record = {"epoch": epoch, "train_loss": total.item() / max(steps, 1)}
    report = epoch % config.retrain.eval_every == 0 or epoch == epochs
    line = f"{label}epoch {epoch}/{epochs}  train {record['train_loss']:.4f}"
    stopping = progress.stopping
    if evaluator is not None and report:
        metrics = _validate(model, graph, evaluator)
        record.update({f"val_{m}": v for m, v in metrics.items() if "@" in m})
        improved = stopping.update(epoch, metrics, model)
        line += (f"  val recall@{k} {metrics[f'recall@{k}']:.4f}  "
                 f"ndcg@{k} {metrics[f'ndcg@{k}']:.4f}{'  *' if improved else ''}")
    progress.seconds += distributed.agree(time.perf_counter() - epoch_start)
    record["seconds"] = progress.seconds
    if writer is not None:
        for name, value in record.items():
            if name != "epoch":
                writer.add_scalar(f"{label.strip()}/{name}".lstrip("/"), value, epoch)
    progress.history.append(record)
    progress.epoch = epoch
    if report:
        say(f"{line}  | {format_seconds(progress.seconds)} training")
    if stopping is not None and stopping.stopped:
        say(f"{label}early stop: no better val recall@{k} in {stopping.bad_evaluations} "
            f"evaluations; best epoch {stopping.best_epoch}")
