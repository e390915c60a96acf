"""Selecting among trained candidates with Optuna (Akiba et al. 2019).

Each trial is one candidate, a genotype with its training settings, trained standalone with
early stopping; it reports its best validation Recall@K after every evaluation to a pruner
(Hyperband by default: several brackets of asynchronous successive halving, some starting long,
so a slow starter is not always judged early) and ends with that score. A seeded sampler (TPE by
default) proposes each next candidate from the trials so far.

The budget is counted in trials: with the same seed and thread count a study proposes the same
candidates, trains them to the same scores and prunes the same ones under any load. A wall-clock
cap is the user's, and said when it cuts. Only trials that ended by their own early stopping
(or epoch cap) can win: a pruned or cut trial's score is a truncated one.

The study lives in a database: SQLite in the run directory by default, or any RDB URL. A run
cut off continues with the trials it holds; several processes (``--workers``) or machines (the
same ``--storage`` and ``--study-name``) fill one study at once. A trial whose worker died is
marked failed and queued again with its parameters (at once for a dead process on this machine,
after a heartbeat timeout for another machine's), so it is neither lost nor counted twice.

Under torchrun, process 0 alone talks to the study and hands each candidate and each pruning
decision to the others, which train with it (``runtime.distributed``).
"""
import copy
import os
import socket
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import optuna
import torch

from recnas.models.genotype import Genotype
from recnas.runtime import distributed
from recnas.runtime.errors import ConfigError, TrainingDiverged
from recnas.runtime.options import option
from recnas.runtime.progress import format_seconds, log
from recnas.training.fit import fit
from recnas.training.retrain import new_model, validation_evaluator

optuna.logging.set_verbosity(optuna.logging.WARNING)      # recnas logs each trial itself

SAMPLERS = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
PRUNERS = ("hyperband", "halving", "none")
HEARTBEAT_SECONDS = 60      # a running trial's worker writes a sign of life this often ...
GRACE_SECONDS = 300         # ... and is taken for dead, its trial queued again, after this long
DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class SelectConfig:
    """The selection stage after a search (train.py --then-select): an Optuna study whose trials
    train a candidate cell (each search's derived cell, its ``alternatives`` nearest cells, the
    built-ins) with its training settings (``suggest_settings``). It opens with the incumbent,
    the default ``lightgcn`` with the run's settings, then each other cell with the run's
    settings, all trained to their early stop unpruned; the sampler proposes the rest. The
    winner, the best trial that ended by early stopping, is then trained on train + validation
    for the epochs its trial chose, and test is scored once."""
    search_seeds: int = option(1, "--then-select: searches, seeds --seed, --seed + 1, ...")
    alternatives: int = option(2, "--then-select: nearest cells of each derived cell, by α")
    selection_trials: int = option(30, "--then-select: trials of the selection, its budget "
                                       "(counted in work, so a seeded run repeats)")
    sampler: str = option("tpe", "--then-select: how the next trial is proposed: tpe (learns "
                                 "from the trials so far) or random; seeded by --seed",
                          choices=tuple(SAMPLERS))
    pruner: str = option("hyperband", "--then-select: how trials are stopped early on "
                                      "validation: hyperband, halving (one bracket) or none",
                         choices=PRUNERS)
    first_epochs: int = option(5, "--then-select: epochs before a trial can first be pruned")
    eta: int = option(3, "--then-select: the pruner's reduction factor: at each rung (epochs "
                         "first-epochs x eta^k) a trial goes on if in the best 1/eta there")
    selection_seconds: Optional[float] = option(
        None, "--then-select: wall-clock cap of this process's selection; a trial it cuts "
              "cannot win, and the log says so", metavar="SECONDS", default_help="none")
    storage: Optional[str] = option(
        None, "--then-select: the study's database URL, e.g. postgresql://user@host/db; on "
              "another machine the same command with the same --storage and --study-name joins "
              "the study as a worker", metavar="URL",
        default_help="sqlite:///RUN_DIR/selection/study.db")
    study_name: str = option("recnas-selection", "--then-select: the study's name in --storage "
                                                 "(Hyperband's brackets depend on it)")
    workers: int = option(1, "--then-select: processes on this machine that train trials at "
                             "once, each with its share of --threads")
    final_train_only: bool = option(False, "--then-select: train the final model on the "
                                           "training rows alone with early stopping, instead "
                                           "of on train + validation for the epochs the "
                                           "winner's trial chose")


def check_config(select):
    """Refuse selection settings that cannot work, before anything runs."""
    if min(select.search_seeds, select.selection_trials, select.first_epochs,
           select.workers) < 1 or select.eta < 2 or select.alternatives < 0 or (
            select.selection_seconds is not None and select.selection_seconds <= 0):
        raise ConfigError("--then-select needs --search-seeds, --selection-trials, "
                          "--first-epochs, --workers >= 1, --eta >= 2, --alternatives >= 0 and "
                          f"--selection-seconds > 0 (got {select.search_seeds}, "
                          f"{select.selection_trials}, {select.first_epochs}, {select.workers}, "
                          f"{select.eta}, {select.alternatives}, {select.selection_seconds})")
    if select.workers > 1 and distributed.active():
        raise ConfigError("--workers runs trials in processes of its own; under torchrun every "
                          "process trains each trial together: use one or the other")


# ------------------------------------------------------------------------------------------
# what a trial trains


def candidate_config(config, genotype):
    """The run's config with a candidate's width and hyper-parameters (schema-2 genotype)."""
    return replace(config, train=replace(config.train, dim=genotype.dim,
                                         **genotype.hyperparameters))


def run_settings(config):
    """The run's own training settings, named as ``suggest_settings`` names them (its loss as a
    retraining resolves it: softmax unless --loss says otherwise)."""
    t = config.train
    loss = t.loss or "softmax"
    settings = {"dim": t.dim, "lr": t.lr, "l2": t.l2, "loss": loss, "dropout": t.dropout}
    if loss == "softmax":
        settings.update(temperature=t.temperature, negatives=t.negatives)
    return settings


def suggest_settings(trial, config):
    """Draw a candidate's training settings from ``trial`` (width, learning rate, L2, loss and
    its options, dropout); each distribution holds the run's own value, so the run's settings
    can be queued as a trial. Returns (dim, hyper-parameters of the genotype)."""
    own, t = run_settings(config), config.train
    dim = trial.suggest_categorical("dim", sorted({32, 64, 128, own["dim"]}))
    values = {"lr": trial.suggest_float("lr", min(1e-3, own["lr"]), max(1e-2, own["lr"]),
                                        log=True),
              "l2": trial.suggest_float("l2", min(1e-5, own["l2"]) or 1e-8,
                                        max(1e-2, own["l2"]), log=True),
              "loss": trial.suggest_categorical("loss", sorted({"softmax", "bpr", own["loss"]}))}
    if values["loss"] == "softmax":
        values["temperature"] = trial.suggest_float(
            "temperature", min(0.5, t.temperature), max(4.0, t.temperature), log=True)
        values["negatives"] = trial.suggest_categorical(
            "negatives", sorted({256, 1024, 4096, t.negatives}))
    values["dropout"] = trial.suggest_categorical("dropout", sorted({0.0, 0.1, 0.2,
                                                                     own["dropout"]}))
    return dim, values


def train_candidate(genotype, data, graph, config, device, evaluator, label="", writer=None,
                    on_validation=None, time_limit=None):
    """Train ``genotype`` (its width and hyper-parameters over the run's settings) from the run's
    seed with early stopping on ``evaluator``, up to the retraining's epochs. Returns (the model
    with its best weights, fit's progress)."""
    cfg = candidate_config(config, genotype)
    torch.manual_seed(config.seed)
    model = new_model(genotype, data, cfg, device)
    progress = fit(model, graph, data.train, cfg, device, config.retrain.epochs, evaluator,
                   label=label, quiet=True, writer=writer, on_validation=on_validation,
                   time_limit=time_limit)
    return model, progress


# ------------------------------------------------------------------------------------------
# the study


class PerTrialSeed(optuna.samplers.BaseSampler):
    """A sampler made afresh for every trial, seeded by the run's seed and the trial's number
    less the failed trials before it (each queued again under a new number): what a trial is
    proposed depends on the study's trials alone, not on how many this process proposed
    before, so a study resumed after an interruption proposes what the uninterrupted one
    would."""

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int):
        self._make, self._seed = make, seed
        self._inner = make(seed)

    def _seed_of(self, number):
        return int(np.random.SeedSequence([self._seed, number]).generate_state(1)[0])

    def before_trial(self, study, trial):
        failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
        index = trial.number - sum(t.number < trial.number for t in failed)
        self._inner = self._make(self._seed_of(index))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self._inner.after_trial(study, trial, state, values)


class Hyperband(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband, a trial queued again after an interruption kept in the bracket of
    the trial it repeats (Optuna picks a trial's bracket from its number)."""

    def _get_bracket_id(self, study, trial):
        original = trial.system_attrs.get("failed_trial")
        if original is not None:
            trial = copy.copy(trial)
            trial.number = original
        return super()._get_bracket_id(study, trial)


def make_pruner(name, first_epochs, max_epochs, eta):
    if name == "hyperband":
        return Hyperband(min_resource=first_epochs, max_resource=max(max_epochs, first_epochs),
                         reduction_factor=eta)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first_epochs,
                                                      reduction_factor=eta)
    return optuna.pruners.NopPruner()


def storage_of(url):
    """An RDB storage with heartbeats: a trial whose worker stops beating for GRACE_SECONDS is
    failed and queued again with its parameters."""
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else None
    with warnings.catch_warnings():                    # heartbeats are "experimental" (v2.8)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback())


def open_study(url, name, seed, sampler="tpe", pruner=None):
    """Create the study ``name`` in the database ``url``, or open it (a resumed run, a joining
    worker); maximizes validation Recall@K."""
    sampler_class = SAMPLERS[sampler]
    return optuna.create_study(storage=storage_of(url), study_name=name, direction="maximize",
                               sampler=PerTrialSeed(lambda s: sampler_class(seed=s), seed),
                               pruner=pruner or optuna.pruners.NopPruner(),
                               load_if_exists=True)


def sqlite_url(path):
    return f"sqlite:///{Path(path).resolve()}"


def finished(study):
    return len(study.get_trials(deepcopy=False, states=DONE))


def requeue_interrupted(study):
    """Queue again, with their parameters, the trials an interruption ended: a failed trial
    (an exception escaped its training: Ctrl-C, a crash) not queued again yet, and a running
    trial of a process on this machine that no longer exists (killed), which is failed first.
    A dead worker on another machine is found by its heartbeat instead. Returns how many."""
    host, requeued = socket.gethostname(), 0
    for trial in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker is None or worker["host"] != host or (
                worker["pid"] != os.getpid() and _alive(worker["pid"])):
            continue                # (this process runs no trial while it looks)
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError):         # another process did it first
            continue
    trials = study.get_trials()
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    for trial in trials:
        if trial.state == optuna.trial.TrialState.FAIL and trial.number not in retried:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.RetryHeartbeatStaleTrialCallback()(study, trial)
            requeued += 1
    if requeued:
        log.info(f"{requeued} trial(s) that an interruption ended queued again")
    return requeued


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                     # it exists, as another user's
        pass
    return True


def run_trials(study, genotype_of, data, graph, config, device, n_trials, label="selection",
               writer=None, timeout=None, on_best=None):
    """Train trials in this process until ``study`` holds ``n_trials`` finished ones (complete
    or pruned, by any worker; a worker starts no trial once the finished and running ones make
    the budget, so several workers overrun it only by trials that start at the same moment, at
    most one per other worker) or ``timeout`` seconds passed; returns whether the timeout cut
    the run. ``genotype_of(trial)`` turns a trial into the candidate to train (from its
    parameters). A trial with the user attribute ``unpruned`` (the incumbent) is never pruned.
    ``on_best(trial number, model)`` is called (on every process) when a trial beats every
    complete trial so far."""
    evaluator = validation_evaluator(data, config, device)
    if evaluator is None:
        raise ConfigError(f"{label} needs a validation split (--val-fraction is 0 or every user "
                          "has too few interactions)")
    if len(data.test):
        raise ValueError("trials must not see the test split: pass data.without_test()")
    k, started = config.topk[0], time.perf_counter()

    def left():
        return None if timeout is None else max(1e-9, timeout - (time.perf_counter() - started))

    def train(genotype, number, unpruned, trial=None):
        """(model, progress, whether the wall-clock cap cut the training)."""
        def on_validation(epoch, best):
            prune = False
            if trial is not None:
                trial.report(best, epoch)
                prune = not unpruned and trial.should_prune()
            if distributed.agree(prune):
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")
        model, progress = train_candidate(genotype, data, graph, config, device, evaluator,
                                          label=f"{label} trial {number} ", writer=writer,
                                          on_validation=on_validation, time_limit=left())
        return model, progress, not progress.stopping.stopped and \
            progress.epoch < config.retrain.epochs

    if not distributed.is_main():                    # torchrun: train what process 0 hands out
        while (job := distributed.broadcast(None)) is not None:
            try:
                model, _, _ = train(*job)
            except (optuna.TrialPruned, TrainingDiverged):
                continue
            if distributed.agree(False):
                on_best(job[1], model)
        return distributed.agree(False)

    def objective(trial):
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        genotype = genotype_of(trial)
        unpruned = bool(trial.user_attrs.get("unpruned"))
        trial.set_user_attr("genotype", genotype.to_dict())
        note = ("  (" + ("the incumbent; " if trial.user_attrs.get("incumbent") else "")
                + "trained to its early stop, unpruned)") if unpruned else ""
        log.info(f"{label} trial {trial.number}: {describe(genotype)}{note}")
        distributed.broadcast((genotype, trial.number, unpruned))
        try:
            model, progress, cut = train(genotype, trial.number, unpruned, trial)
        except TrainingDiverged as e:
            trial.set_user_attr("stopped", f"diverged: {e}")
            log.info(f"{label} trial {trial.number}: diverged, counted as pruned")
            raise optuna.TrialPruned(str(e)) from None
        except optuna.TrialPruned as e:
            log.info(f"{label} trial {trial.number}: {e}")
            raise
        stopping = progress.stopping
        value = stopping.best_metrics[f"recall@{k}"] if stopping.best_metrics else -1.0
        best = best_trial(study)
        if cut:          # a cut trial is kept (on_best) only while no trial ended by early stopping
            beats = best is None and value > score(best_trial(study, cut_too=True))
        else:
            beats = best is None or value > best.value
        record(trial, progress, k)
        log.info(f"{label} trial {trial.number}: val recall@{k} {value:.4f} at epoch "
                 f"{stopping.best_epoch} ({progress.epoch} epochs, "
                 f"{format_seconds(progress.seconds)})"
                 + ("; cut by the wall-clock cap, so it cannot win" if cut else ""))
        if distributed.agree(on_best is not None and beats):
            on_best(trial.number, model)
        if cut:
            trial.set_user_attr("stopped", "cut by the wall-clock cap")
            raise optuna.TrialPruned("cut by the wall-clock cap")
        return value

    requeue_interrupted(study)
    cut = False

    def stop_when_done(study, trial):    # after each trial: so the first always starts
        nonlocal cut
        cut = timeout is not None and time.perf_counter() - started >= timeout
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if cut or finished(study) + len(running) >= n_trials:    # others' trials count too
            study.stop()
    if finished(study) < n_trials:
        study.optimize(objective, callbacks=[stop_when_done])
        cut = cut and finished(study) < n_trials
    distributed.broadcast(None)
    return distributed.agree(cut)


def record(trial, progress, k):
    """A trial's outcome as user attributes: its best epoch, validation metrics, seconds."""
    stopping = progress.stopping
    trial.set_user_attr("epoch", stopping.best_epoch)
    trial.set_user_attr("epochs_trained", progress.epoch)
    trial.set_user_attr("val", stopping.best_metrics)
    trial.set_user_attr("seconds", progress.seconds)


def describe(genotype):
    settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in sorted(genotype.hyperparameters.items()))
    return f"{genotype.short()}  dim {genotype.dim}" + (f"  {settings}" if settings else "")


def score(trial):
    """A trial's validation score: its value, or for a pruned trial the best it reported."""
    if trial is None:
        return -1.0
    if trial.value is not None:
        return trial.value
    return max(trial.intermediate_values.values(), default=-1.0)


def best_trial(study, cut_too=False):
    """The best complete trial (ties: the earlier), or None; with ``cut_too`` and no complete
    trial, the best of those the wall-clock cap cut (by the best validation they reached)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete and cut_too:      # (a complete trial always wins over a cut one)
        cut = [t for t in study.get_trials(deepcopy=False) if "val" in t.user_attrs]
        return max(cut, key=lambda t: (score(t), -t.number), default=None)
    return max(complete, key=lambda t: (t.value, -t.number), default=None)


def wait_for_running(study, poll_seconds=10.0):
    """Wait until no trial of the study runs: other workers' trials end, or their workers are
    found dead and the trials queued again."""
    said = False
    while running := study.get_trials(deepcopy=False,
                                      states=(optuna.trial.TrialState.RUNNING,)):
        if not said:
            log.info(f"waiting for {len(running)} trial(s) of other workers")
            said = True
        time.sleep(poll_seconds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        requeue_interrupted(study)


def queued_left(study, n_trials):
    """After waiting for the other workers: whether trials were queued again (a worker died)
    that the budget still has room for, for this process to run."""
    wait_for_running(study)
    return finished(study) < n_trials and bool(
        study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def trials_table(study):
    """Every trial as a plain dict (selection.json)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        genotype = t.user_attrs.get("genotype")
        genotype = genotype and Genotype.from_dict(genotype)
        rows.append({"number": t.number, "state": t.state.name.lower(), "params": t.params,
                     "genotype": genotype and genotype.short(),
                     "dim": genotype and genotype.dim,
                     "hyperparameters": genotype and genotype.hyperparameters,
                     "value": t.value, "val": t.user_attrs.get("val"),
                     "epoch": t.user_attrs.get("epoch"),
                     "epochs_trained": t.user_attrs.get("epochs_trained",
                                                        max(t.intermediate_values, default=0)),
                     "seconds": t.user_attrs.get("seconds"),
                     "stopped": t.user_attrs.get("stopped"),
                     "unpruned": bool(t.user_attrs.get("unpruned")),
                     "incumbent": bool(t.user_attrs.get("incumbent"))})
    return rows


def write_plots(study, directory):
    """The study's history, learning curves, parameter importances (PED-ANOVA) and parallel
    coordinates as HTML pages in DIRECTORY (plotly.js written once beside them). Returns the
    files written; a plot the trials cannot give yet (e.g. importances of one trial) is left
    out with a log line."""
    if not distributed.is_main():
        return []
    import optuna.visualization as vis
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plots = {"history": lambda: vis.plot_optimization_history(study),
             "curves": lambda: vis.plot_intermediate_values(study),
             "importances": lambda: vis.plot_param_importances(
                 study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()),
             "parallel": lambda: vis.plot_parallel_coordinate(study)}
    written = []
    for name, plot in plots.items():
        try:
            figure = plot()
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            log.info(f"plot {name}: not drawn ({e})")
            continue
        path = directory / f"{name}.html"
        figure.write_html(str(path), include_plotlyjs="directory")
        written.append(path)
    return written
