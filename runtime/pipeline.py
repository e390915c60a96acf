"""The main job with selection (train.py --then-select): searches with several seeds -> their
derived cells, the cells nearest to them and the built-in genotypes, each with several training
settings -> successive halving on validation -> the winner retrained fully, test scored once.

Layout of RUN_DIR: the first search itself, search-seed<S>/ for the others, selection/ (the
candidates, every round, the winner's genotype.json, TensorBoard curves of every candidate),
retrain/ (the final training and its results.json)."""
import json
import random
import time
from dataclasses import replace

from data.graph import BipartiteGraph
from data.interactions import load_interactions
from supernet.derive import alternatives, controller_of, derive
from supernet.evolution import Evolution
from supernet.space import space_of
from supernet.genotype import BUILTINS, Genotype, builtin
from supernet.model import ArchWeights
from training import selection
from . import checkpoint, distributed
from .files import write_json
from .progress import format_seconds, log


def search_dirs(config, first_dir):
    """The run directory of each search seed: the first is the run itself."""
    return [first_dir if s == 0 else first_dir / f"search-seed{config.seed + s}"
            for s in range(config.select.search_seeds)]


def candidates(config, dirs):
    """Cells (derived, nearest alternatives, built-ins; each once) x training settings (the run's
    and ``settings_samples`` random ones, seeded by the run's seed)."""
    space, cells = space_of(config), {}
    for search_dir in dirs:
        derived = derive(search_dir)
        state = checkpoint.load(search_dir, "search")
        if state.get("controller") is not None:      # the next most likely genotypes
            nearest = controller_of(state, space).alternatives(config.select.alternatives,
                                                               config.train.dim)
        elif state.get("evolution") is not None:     # the next fittest genotypes evolution met
            nearest = Evolution.from_state_dict(state["evolution"]).best(
                1 + config.select.alternatives)[1:]
        else:
            nearest = alternatives(ArchWeights.from_state_dict(state["model"]), space,
                                   config.train.dim, config.select.alternatives)
        for genotype in [derived, *nearest]:
            genotype.provenance = {}
            cells.setdefault(genotype.short(), genotype)
    for name in BUILTINS:
        cells.setdefault(name, builtin(name, config.train.dim, space.n_nodes))
    rng = random.Random(config.seed)
    return [selection.with_settings(cell, rng if k else None) for cell in cells.values()
            for k in range(1 + config.select.settings_samples)]


def search_select_retrain(config, first_dir, run, device):
    """After the first search (in ``first_dir``): the other searches, the selection stage and
    the winner's retraining (``run`` is runtime.jobs.run); returns the retraining's results
    with what the selection did."""
    dirs = search_dirs(config, first_dir)
    for seed_offset, search_dir in enumerate(dirs[1:], 1):
        if not (search_dir / "results.json").exists():
            log.info(f"search with seed {config.seed + seed_offset} in {search_dir}")
            run(replace(config, seed=config.seed + seed_offset, out=str(search_dir),
                        search=replace(config.search, then_select=False)),
                resume=(search_dir / checkpoint.CHECKPOINT).exists(), read_test=False)
    return select_and_retrain(config, candidates(config, dirs), first_dir, run, device)


def select_and_retrain(config, pool, out, run, device):
    """The selection stage over ``pool`` (genotypes with their settings) in OUT/selection, then
    the winner's full retraining in OUT/retrain; returns the retraining's results with what the
    selection did. Also how a benchmark tunes one cell: a pool of that cell with many settings.

    The retraining continues the winner's training from the selection: a fresh retraining would
    start with the same seed, weights and batches, so the epochs the selection trained are not
    trained twice. A finished selection (selection.json, and the retraining's checkpoint) is not
    run again when the job is resumed."""
    select_dir, retrain_dir = out / "selection", out / "retrain"
    if (select_dir / "selection.json").exists() and (retrain_dir / checkpoint.CHECKPOINT).exists():
        log.info(f"selection: done before ({select_dir / 'selection.json'})")
        record = json.loads((select_dir / "selection.json").read_text())
        winner = Genotype.load(select_dir / "genotype.json")
    else:
        record, winner = _select(config, pool, select_dir, retrain_dir, device)
    final = selection.candidate_config(config, winner)
    results = run(replace(final, mode="retrain", out=str(retrain_dir),
                          retrain=replace(config.retrain, genotype=str(select_dir / "genotype.json")),
                          search=replace(config.search, then_select=False)),
                  resume=True)
    return {**results, "selection": {"winner": winner.short(), "dim": winner.dim,
                                     "hyperparameters": winner.hyperparameters,
                                     "candidates": len(record["candidates"]),
                                     "seconds": record["seconds"]}}


def _select(config, pool, select_dir, retrain_dir, device):
    """Successive halving over ``pool`` on the data without its test split; writes
    selection.json, the winner's genotype.json and, as RETRAIN_DIR's checkpoint, the winner's
    training state. Returns (the selection record, the winning genotype)."""
    started = time.perf_counter()
    full = load_interactions(config.data, config.seed)
    data = full.without_test()
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    s = config.select
    log.info(f"selection: {len(pool)} candidates, successive halving from {s.first_epochs} to "
             f"at most {s.max_epochs} epochs, keeping 1/{s.eta} per round")
    writer = distributed.summary_writer(select_dir / "tensorboard")
    found = selection.select(pool, data, graph, config, device, s.first_epochs,
                             s.max_epochs, s.eta, s.selection_seconds, writer)
    writer.close()
    winner = pool[found.winner]
    k = config.topk[0]
    record = {"candidates": [dict(g.to_dict(), short=g.short()) for g in pool],
              "rounds": [{"epochs": r.epochs, "kept": r.kept,
                          "scores": {str(c): v for c, v in r.scores.items()}}
                         for r in found.rounds],
              "winner": found.winner, "seconds": time.perf_counter() - started}
    winner.save(select_dir / "genotype.json")
    checkpoint.save(retrain_dir, "retrain", phase="select", fit=found.winner_state,
                    dataset=full.record())
    write_json(select_dir / "selection.json", record)
    log.info(f"selection: winner {winner.short()} dim {winner.dim} {winner.hyperparameters} "
             f"(val recall@{k} {found.rounds[-1].scores[found.winner]:.4f}) in "
             f"{format_seconds(record['seconds'])}; its retraining continues from there")
    return record, winner
