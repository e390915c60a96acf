"""The main job with selection (train.py --then-select): searches with several seeds -> their
derived cells, the cells nearest to them and the built-in genotypes -> successive halving on
validation over the cells with the run's training settings, down to a few finalists ->
successive halving over the finalists, each with several training settings -> the winner
retrained fully, test scored once.

Two halvings instead of one over every (cell, settings) pair: the settings move validation
more than the cell does, and the same settings won for different cells (benchmarks/quality.py,
tuned rows of the one-stage selection), so the budget goes to the settings of the cells that
win with the run's settings.

Layout of RUN_DIR: the first search itself, search-seed<S>/ for the others, selection/ (both
stages' candidates and rounds in selection.json, each stage's trainings in cells/ and
settings/, the winner's genotype.json, TensorBoard curves of every candidate), retrain/ (the
final training and its results.json). Every part continues where it stopped when the job is
resumed."""
import json
import random
from dataclasses import replace

from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions
from recnas.models.genotype import BUILTINS, Genotype, builtin
from recnas.models.space import space_of
from recnas.supernet.derive import derive
from recnas.supernet.strategies import of_checkpoint
from recnas.training import selection
from recnas.runtime import checkpoint, distributed
from recnas.runtime.files import write_json
from recnas.runtime.progress import format_seconds, log


def search_dirs(config, first_dir):
    """The run directory of each search seed: the first is the run itself."""
    return [first_dir if s == 0 else first_dir / f"search-seed{config.seed + s}"
            for s in range(config.select.search_seeds)]


def candidate_cells(config, dirs):
    """Cells with the run's settings: each search's derived cell, its ``alternatives`` nearest
    cells and the built-ins, each network once (by ``Genotype.signature``: a nearest cell that
    only changes a node the output never reads is the derived cell again, and is skipped)."""
    space, cells = space_of(config), {}
    for search_dir in dirs:
        derived = derive(search_dir)
        state = checkpoint.load(search_dir, "search")
        nearest = of_checkpoint(state, config, space).alternatives(None)
        _add_new(cells, [derived], 1)
        _add_new(cells, nearest, config.select.alternatives)
    _add_new(cells, [builtin(name, config.train.dim, space.n_nodes) for name in BUILTINS],
             len(BUILTINS))
    return [selection.with_settings(cell) for cell in cells.values()]


def _add_new(cells, genotypes, n):
    """Add to ``cells`` (signature -> genotype) the first ``n`` of ``genotypes`` whose network
    is not there yet."""
    for genotype in genotypes:
        if n == 0:
            return
        signature = genotype.signature()
        if signature not in cells:
            genotype.provenance = {}
            cells[signature] = genotype
            n -= 1


def settings_pool(cells, config):
    """Each cell with the run's training settings and ``settings_samples`` random ones (seeded by
    the run's seed)."""
    rng = random.Random(config.seed)
    return [selection.with_settings(cell, rng if k else None) for cell in cells
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
    budget = config.select.selection_seconds
    if budget is None and config.select.selection_ratio > 0:
        searched = searches_seconds(dirs)
        budget = config.select.selection_ratio * searched
        log.info(f"selection budget: {format_seconds(budget)} ({config.select.selection_ratio} x "
                 f"the searches' {format_seconds(searched)})")
    return select_and_retrain(replace(config, select=replace(config.select,
                                                             selection_seconds=budget)),
                              candidate_cells(config, dirs), first_dir, run, device)


def searches_seconds(dirs):
    """The wall seconds the searches' epochs took (their evaluation included, summed over
    resumes; a run older than that record gives its training seconds)."""
    total = 0.0
    for search_dir in dirs:
        history = json.loads((search_dir / "results.json").read_text())["history"]
        total += history[-1].get("seconds", sum(r["train_seconds"] for r in history))
    return total


def select_and_retrain(config, cells, out, run, device):
    """The selection stage over ``cells`` in OUT/selection (the cells with the run's settings
    down to ``finalists``, then the finalists' settings), then the winner's full retraining in
    OUT/retrain; returns the retraining's results with what the selection did. Also how a
    benchmark tunes one cell: with one cell, only its settings are selected.

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
        record, winner = _select(config, cells, select_dir, retrain_dir, device)
    final = selection.candidate_config(config, winner)
    results = run(replace(final, mode="retrain", out=str(retrain_dir),
                          retrain=replace(config.retrain, genotype=str(select_dir / "genotype.json")),
                          search=replace(config.search, then_select=False)),
                  resume=True)
    return {**results, "selection": {
        "winner": winner.short(), "dim": winner.dim, "hyperparameters": winner.hyperparameters,
        "seconds": record["seconds"],
        "stages": {stage["name"]: {"candidates": len(stage["candidates"]),
                                   "trained": len(stage["rounds"][0]["scores"]),
                                   "seconds": stage["seconds"]} for stage in record["stages"]}}}


def _select(config, cells, select_dir, retrain_dir, device):
    """Both halvings on the data without its test split; writes selection.json, the winner's
    genotype.json and, as RETRAIN_DIR's checkpoint, the winner's training state. Returns (the
    selection record, the winning genotype). Each stage keeps its trainings in
    SELECT_DIR/<stage>/ while it runs (selection.select's ``store``), so a selection cut off
    continues there; the candidates' states are removed once the winner's is saved."""
    full = load_interactions(config.data, config.seed)
    data = full.without_test()
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    s, k = config.select, config.topk[0]
    writer = distributed.summary_writer(select_dir / "tensorboard")
    stages = []

    def stage(name, pool, first_epochs, budget, survivors):
        log.info(f"{name}: {len(pool)} candidates, successive halving from "
                 f"{min(first_epochs, s.max_epochs)} "
                 f"to at most {s.max_epochs} epochs, keeping 1/{s.eta} per round, down to "
                 f"{survivors}" + ("" if budget is None else
                                   f", rounds shortened to fit {format_seconds(budget)}"
                                   + (" (the first round too)" if s.cut_first_round else "")))
        found = selection.select(pool, data, graph, config, device, first_epochs,
                                 s.max_epochs, s.eta, budget, writer, survivors, stage=name,
                                 store=select_dir / name,
                                 cut_first_round=s.cut_first_round and budget is not None)
        stages.append({"name": name,
                       "candidates": [dict(g.to_dict(), short=g.short()) for g in pool],
                       "rounds": [{"epochs": r.epochs, "kept": r.kept,
                                   "scores": {str(c): v for c, v in r.scores.items()}}
                                  for r in found.rounds],
                       "seconds": found.seconds})
        return found

    budget, finalists, spent = s.selection_seconds, cells, 0.0
    pool_size = len(cells[:s.finalists]) * (1 + s.settings_samples)
    settings_cost = sum(selection.candidate_epochs(selection.halving_rounds(
        pool_size, s.first_epochs, s.max_epochs, s.eta)))
    if len(cells) > s.finalists:
        cells_cost = sum(selection.candidate_epochs(selection.halving_rounds(
            len(cells), s.cells_first_epochs, s.max_epochs, s.eta, s.finalists)))
        share = None if budget is None else budget * cells_cost / (cells_cost + settings_cost)
        found = stage("cells", cells, s.cells_first_epochs, share, s.finalists)
        finalists, spent = [cells[c] for c in found.rounds[-1].kept], found.seconds
    left = None if budget is None else max(0.0, budget - spent)
    pool = settings_pool(finalists, config)
    found = stage("settings", pool, s.first_epochs, left, 1)
    writer.close()
    winner = pool[found.winner]
    record = {"stages": stages, "winner": dict(winner.to_dict(), short=winner.short()),
              "seconds": spent + found.seconds}
    winner.save(select_dir / "genotype.json")
    checkpoint.save(retrain_dir, "retrain", phase="select", fit=found.winner_state,
                    dataset=full.record())
    write_json(select_dir / "selection.json", record)
    if distributed.is_main():
        for state in select_dir.glob("*/candidate-*.pt"):
            state.unlink()
    log.info(f"selection: winner {winner.short()} dim {winner.dim} {winner.hyperparameters} "
             f"(val recall@{k} {found.rounds[-1].scores[found.winner]:.4f}) in "
             f"{format_seconds(record['seconds'])} of training; its retraining continues from "
             "there")
    return record, winner
