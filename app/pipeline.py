"""The main job with selection (train.py --then-select): searches with several seeds -> their
derived cells, the cells nearest to them and the built-ins -> an Optuna study over those cells
and their training settings (training.selection), opened by the incumbent, the default
``lightgcn`` trained to its early stop -> the winner, the best trial that ended by early
stopping, trained on train + validation for the epochs its trial chose -> test, scored once.

Layout of RUN_DIR: the first search itself, search-seed<S>/ for the others, selection/ (the
study in study.db unless --storage names another database, every trial in selection.json, the
winner's genotype.json, plots/ of the study, TensorBoard curves of every trial), retrain/ (the
final training and its results.json). Every part continues where it stopped when the job is
resumed: the study keeps its trials, and a trial cut off is queued again.
"""
import json
import multiprocessing
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import optuna
import torch

from recnas.app.config import RunConfig
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions
from recnas.models.genotype import BUILTINS, Genotype, builtin
from recnas.models.space import space_of
from recnas.supernet.derive import derive
from recnas.supernet.strategies import of_checkpoint
from recnas.training import selection
from recnas.runtime import checkpoint, distributed
from recnas.runtime.errors import ConfigError
from recnas.runtime.files import write_json
from recnas.runtime.progress import format_seconds, log, set_threads, setup_logging

INCUMBENT = "lightgcn"


def search_dirs(config, first_dir):
    """The run directory of each search seed: the first is the run itself."""
    return [first_dir if s == 0 else first_dir / f"search-seed{config.seed + s}"
            for s in range(config.select.search_seeds)]


def candidate_cells(config, dirs):
    """name -> cell (with no settings of its own): each search's derived cell ("searched", or
    "searched-seed<S>" for the other seeds), its ``alternatives`` nearest cells ("…~1", "…~2")
    and the built-ins by name; each network once (by ``Genotype.signature``: a nearest cell that
    only changes a node the output never reads is the derived cell again, and is skipped)."""
    space, cells, seen = space_of(config), {}, set()

    def add(name, genotype):
        signature = genotype.signature()
        if signature in seen:
            return False
        genotype.provenance, genotype.hyperparameters = {}, {}
        seen.add(signature)
        cells[name] = genotype
        return True

    for s, search_dir in enumerate(dirs):
        name = "searched" if s == 0 else f"searched-seed{config.seed + s}"
        add(name, derive(search_dir))
        state = checkpoint.load(search_dir, "search")
        nearest = of_checkpoint(state, config, space).alternatives(None)
        n = 0
        for genotype in nearest:
            if n == config.select.alternatives:
                break
            n += add(f"{name}~{n + 1}", genotype)
    for name in BUILTINS:
        add(name, builtin(name, config.train.dim, space.n_nodes))
    return cells


def search_select_retrain(config, first_dir, run, device):
    """After the first search (in ``first_dir``): the other searches, the selection and the
    winner's final training (``run`` is app.jobs.run); returns the final training's results
    with what the selection did."""
    dirs = search_dirs(config, first_dir)
    for seed_offset, search_dir in enumerate(dirs[1:], 1):
        if not (search_dir / "results.json").exists():
            log.info(f"search with seed {config.seed + seed_offset} in {search_dir}")
            run(replace(config, seed=config.seed + seed_offset, out=str(search_dir),
                        search=replace(config.search, then_select=False)),
                resume=(search_dir / checkpoint.CHECKPOINT).exists(), read_test=False)
    return select_and_retrain(config, candidate_cells(config, dirs), first_dir, run, device)


def storage_url(config, select_dir):
    return config.select.storage or selection.sqlite_url(select_dir / "study.db")


def select_and_retrain(config, cells, out, run, device):
    """The selection over ``cells`` (name -> genotype) in OUT/selection, then the winner's final
    training in OUT/retrain; returns the final training's results with what the selection did.
    Also how a benchmark tunes one built-in: with one cell, only its settings are selected."""
    select_dir, retrain_dir = out / "selection", out / "retrain"
    if (select_dir / "selection.json").exists():
        log.info(f"selection: done before ({select_dir / 'selection.json'})")
        record = json.loads((select_dir / "selection.json").read_text())
    else:
        record = select(config, cells, select_dir, device)
    winner = Genotype.load(select_dir / "genotype.json")
    final = selection.candidate_config(config, winner)
    train_only = config.select.final_train_only
    if not train_only and not (retrain_dir / checkpoint.CHECKPOINT).exists():
        # the epochs are chosen: the final training trains on train + validation for as many
        # (retrain.py's refit), starting from its refit phase
        checkpoint.save(retrain_dir, "retrain", phase="refit", fit=None,
                        selection={"epoch": record["winner"]["epoch"],
                                   "val": record["winner"]["val"],
                                   "history": [], "seconds": 0.0},
                        dataset=record["dataset"])
    log.info(f"final model: {winner.short()} on "
             + ("the training rows, early stopping on validation" if train_only else
                f"train + validation for the {record['winner']['epoch']} epochs its trial chose")
             + f", in {retrain_dir}")
    results = run(replace(final, mode="retrain", out=str(retrain_dir),
                          retrain=replace(config.retrain, refit=not train_only,
                                          genotype=str(select_dir / "genotype.json")),
                          search=replace(config.search, then_select=False)),
                  resume=(retrain_dir / checkpoint.CHECKPOINT).exists())
    summary = {k: record[k] for k in ("winner", "incumbent", "trials", "seconds", "cut",
                                      "study", "storage")}
    return {**results, "selection": summary}


def _data_and_graph(config, device):
    full = load_interactions(config.data, config.seed)
    data = full.without_test()
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    return full, data, graph


def _open(config, select_dir):
    s = config.select
    pruner = selection.make_pruner(s.pruner, s.first_epochs, config.retrain.epochs, s.eta)
    return selection.open_study(storage_url(config, select_dir), s.study_name, config.seed,
                                s.sampler, pruner)


def genotype_maker(cells, config):
    """A trial -> its candidate: the cell it draws, with the settings it draws."""
    def genotype_of(trial):
        name = trial.suggest_categorical("cell", list(cells))
        genotype = Genotype.from_dict(cells[name].to_dict())
        genotype.dim, genotype.hyperparameters = selection.suggest_settings(trial, config)
        return genotype
    return genotype_of


def select(config, cells, select_dir, device):
    """The study on the data without its test split; writes selection.json, the winner's
    genotype.json and the plots; returns the selection record."""
    s, k = config.select, config.topk[0]
    selection.check_config(s)
    full, data, graph = _data_and_graph(config, device)
    if INCUMBENT not in cells:
        cells = {**cells, INCUMBENT: builtin(INCUMBENT, config.train.dim, config.search.nodes)}
    select_dir.mkdir(parents=True, exist_ok=True)
    study = _open(config, select_dir) if distributed.is_main() else None
    if study is not None and not study.user_attrs.get("cells"):
        _set_up(study, cells, config, full)
    elif study is not None:
        _check_data(study, config, full)
        if sorted(study.user_attrs["cells"]) != sorted(cells):
            raise ConfigError(f"study {s.study_name!r} selects among other cells "
                              f"({', '.join(study.user_attrs['cells'])}); use another "
                              "--study-name")
    log.info(f"selection: {s.selection_trials} trials over {len(cells)} cells "
             f"({', '.join(cells)}) and their training settings; sampler {s.sampler}, pruner "
             f"{s.pruner}; study {s.study_name!r} in {storage_url(config, select_dir)}"
             f"  (watch it: optuna-dashboard {storage_url(config, select_dir)})")
    writer = distributed.summary_writer(select_dir / "tensorboard")
    helpers = _start_workers(config, select_dir, device) if s.workers > 1 else []
    genotype_of = genotype_maker(cells, config)
    cut = selection.run_trials(study, genotype_of, data, graph, config, device,
                               s.selection_trials, writer=writer, timeout=s.selection_seconds)
    for helper in helpers:
        helper.join()
    # trials of a worker that died, queued again: run here
    while distributed.agree(bool(study is not None  # (waits for the others' running trials)
                                 and selection.queued_left(study, s.selection_trials)
                                 and not cut)):
        cut = selection.run_trials(study, genotype_of, data, graph, config, device,
                                   s.selection_trials, writer=writer,
                                   timeout=s.selection_seconds)
    writer.close()
    record = distributed.broadcast(_record(study, config, select_dir, cut) if study else None)
    Genotype.from_dict(record["winner"]["genotype"]).save(select_dir / "genotype.json")
    write_json(select_dir / "selection.json", record)
    if study is not None:
        record["plots"] = [p.name for p in selection.write_plots(study, select_dir / "plots")]
    if cut:
        log.warning(f"selection: the wall-clock cap (--selection-seconds "
                    f"{s.selection_seconds:g}) cut the study after {record['trials']['finished']}"
                    f" of {s.selection_trials} trials")
    w, inc = record["winner"], record["incumbent"]
    log.info(f"selection: winner trial {w['number']}: {w['describe']} (val recall@{k} "
             f"{w['value']:.4f} at epoch {w['epoch']}; the incumbent "
             + (f"{inc['value']:.4f}" if inc and inc["value"] is not None else "did not finish")
             + f"); {record['trials']['complete']} trials complete, "
             f"{record['trials']['pruned']} pruned, {format_seconds(record['seconds'])} of "
             f"training; plots in {select_dir / 'plots'}")
    return record


def _set_up(study, cells, config, full):
    """A new study: what a joining worker needs (the cells, the data's fingerprint), then the
    queued trials, each trained to its early stop (never pruned): the incumbent, then every
    other cell with the run's settings. So every cell has a converged score before the sampler
    proposes settings, and a cell that starts slowly is not judged by its first epochs."""
    study.set_user_attr("cells", {name: g.to_dict() for name, g in cells.items()})
    study.set_user_attr("dataset", full.record())
    study.set_user_attr("trials", config.select.selection_trials)
    own = selection.run_settings(config)
    study.enqueue_trial({"cell": INCUMBENT, **own}, user_attrs={"unpruned": True, "incumbent": True})
    for name in cells:
        if name != INCUMBENT:
            study.enqueue_trial({"cell": name, **own}, user_attrs={"unpruned": True})


def _check_data(study, config, full):
    """A resumed or joined study must be on the same data."""
    theirs = study.user_attrs.get("dataset", {}).get("fingerprint")
    if theirs != full.fingerprint:
        raise ConfigError(f"study {config.select.study_name!r} was made on other data "
                          f"(fingerprint {str(theirs)[:12]}, this run's {full.fingerprint[:12]})"
                          ": use the same --dataset, --seed and fractions, or another "
                          "--study-name")


def _record(study, config, select_dir, cut):
    """What selection.json says: every trial, the winner and the incumbent."""
    k = config.topk[0]
    winner = selection.best_trial(study, cut_too=True)
    if winner is None:
        raise ConfigError("the selection finished no trial: raise --selection-trials or "
                          "--selection-seconds")
    if winner.state.name != "COMPLETE":
        log.warning("selection: no trial ended by early stopping; the winner is the best of "
                    "the trials the wall-clock cap cut")
    genotype = Genotype.from_dict(winner.user_attrs["genotype"])
    trials = selection.trials_table(study)
    incumbent = next((t for t in trials if t["incumbent"] and t["state"] == "complete"), None)
    return {
        "winner": {"number": winner.number, "value": selection.score(winner),
                   "epoch": winner.user_attrs["epoch"], "val": winner.user_attrs["val"],
                   "cell": winner.params["cell"], "describe": selection.describe(genotype),
                   "genotype": genotype.to_dict()},
        "incumbent": incumbent and {"number": incumbent["number"], "value": incumbent["value"],
                                    "epoch": incumbent["epoch"]},
        "trials": {"finished": selection.finished(study), "budget": config.select.selection_trials,
                   "complete": sum(t["state"] == "complete" for t in trials),
                   "pruned": sum(t["state"] == "pruned" for t in trials),
                   "failed": sum(t["state"] == "fail" for t in trials)},
        "seconds": sum(t["seconds"] or 0.0 for t in trials),
        "epochs": sum(t["epochs_trained"] or 0 for t in trials),
        "cut": cut, "study": config.select.study_name, "dataset": study.user_attrs["dataset"],
        "storage": storage_url(config, select_dir), "metric": f"recall@{k}",
        "all_trials": trials}


# ------------------------------------------------------------------------------------------
# workers


def _start_workers(config, select_dir, device):
    """``workers - 1`` processes beside this one on the study, each with its share of the
    threads (this process keeps its own share)."""
    threads = max(1, torch.get_num_threads() // config.select.workers)
    torch.set_num_threads(threads)
    context = multiprocessing.get_context("spawn")
    helpers = [context.Process(target=_worker_main, args=(config.to_dict(), str(select_dir),
                                                          str(device), threads, n))
               for n in range(1, config.select.workers)]
    for helper in helpers:
        helper.start()
    ready = [select_dir / f"worker-{n}.ready" for n in range(1, config.select.workers)]
    deadline = time.time() + 300             # the workers start together (each loads the data)
    while not all(path.exists() for path in ready) and time.time() < deadline and \
            all(helper.is_alive() for helper in helpers):
        time.sleep(0.2)
    for path in ready:
        path.unlink(missing_ok=True)
    return helpers


def _worker_main(config_dict, select_dir, device, threads, number):
    """A worker process on this machine (on the parent's device): trials until the study's
    budget is spent."""
    setup_logging()
    set_threads(threads)
    work(RunConfig.from_dict(config_dict), Path(select_dir), torch.device(device),
         label=f"selection [worker {number}]",
         ready=Path(select_dir) / f"worker-{number}.ready")


def work(config, select_dir, device, label="selection [worker]", ready=None):
    """Train trials of an existing study (a worker: on this machine, or joined from another
    with the same --storage and --study-name) until its budget is spent; the process that made
    the study picks the winner and trains the final model."""
    full, data, graph = _data_and_graph(config, device)
    study, cells, budget = None, None, None
    if distributed.is_main():
        study = _open(config, select_dir)
        _check_data(study, config, full)
        budget = study.user_attrs["trials"]
        cells = {name: Genotype.from_dict(d) for name, d in study.user_attrs["cells"].items()}
    if ready is not None:
        ready.touch()
    return selection.run_trials(study, genotype_maker(cells, config), data, graph, config,
                                device, budget, label=label,
                                timeout=config.select.selection_seconds)


def joinable(config):
    """Whether this main job joins a running study as a worker: --storage names a database
    whose study --study-name is set up (its cells recorded) and not finished."""
    s = config.select
    if s.storage is None or not distributed.is_main():
        return False
    if s.study_name not in optuna.study.get_all_study_names(storage=s.storage):
        return False
    study = optuna.load_study(study_name=s.study_name, storage=s.storage)
    return bool(study.user_attrs.get("cells")) and \
        selection.finished(study) < study.user_attrs["trials"]


def join(config, device):
    """Run this machine's share of a study another machine made (``joinable``)."""
    log.info(f"study {config.select.study_name!r} in {config.select.storage} is running: "
             f"joining it as a worker on {socket.gethostname()} (pid {os.getpid()}); the "
             "machine that made it trains the final model")
    work(config, Path(config.out or "."), device)
    log.info("this worker's share of the study is done")
    return {"mode": "worker", "study": config.select.study_name}
