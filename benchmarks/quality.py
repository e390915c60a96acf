"""Quality on ml-100k and on a 20 % user sample of Gowalla: test Recall@20 / NDCG@20 (mean ± std
over seeds) of

- the full pipeline (`train.py --then-select`: search, selection, final retraining);
- every built-in genotype with the default recipe;
- every built-in tuned by the same selection (an Optuna study over that one cell's training
  settings, opened by the cell with the run's settings), with the pipeline's search + selection
  seconds as its wall cap (`--selection-seconds`; trials unbounded), then the same final model
  on train + validation. The jobs stored before the Optuna selection were tuned by the
  successive halvings described in docs/selection-halving-history.md;
- random search over the same joint space (`--strategy random --sample-settings`: random cells,
  each with random training settings, fully trained one after another) at the pipeline's wall
  budget;
- the same pipeline searching with GDAS (`--strategy gdas`, ~4 × faster to search on the Gowalla
  sample), with every built-in tuned and random search at its budget: on the Gowalla sample the
  default pipeline needs ~3.5 h on 2 cores and the GDAS one ~1 h, short enough to measure
  with its baselines;
- the plain search → derive → retrain chain (`--then-retrain`; first order, second order, GDAS,
  and evolution and REINFORCE searching as long as first order does on the dataset), and random
  search over cells alone (`--strategy random`) at its budget.

`--dataset gowalla-20pct` is LightGCN's Gowalla split restricted to 20 % of its users, drawn with
seed 0 (benchmarks/common.gowalla_sample); the run seeds only change initialization, sampling
and the validation slice.

Every finished job is saved at once to benchmarks/results/quality_<dataset>.json, so a run that
is cut off keeps what it measured and a rerun skips it; a job that was cut off continues from
its run directory's checkpoints (searches, selection stages, trainings, random search), and its
wall time is summed over the invocations that ran it (runs/quality/<dataset>/<job>/wall.json,
rewritten every 30 s: a cut loses at most that, plus the work since the job's last checkpoint).
The markdown table is rewritten after each job and at the end (so `--rows` naming stored jobs
alone just rewrites it); it merges every stored job, whichever invocation ran it. Jobs run one
after another (parallel runs on two cores distort every timing, and the budgets are wall times).
"""
import argparse
import json
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np

from common import QUALITY_DATASETS as DATASETS, RESULTS, command, machine, save_table
from recnas.runtime.checkpoint import CHECKPOINT
from recnas.app.config import RunConfig, TrainConfig
from recnas.runtime.files import write_json
from recnas.app.jobs import resolve_device, run
from recnas.app.pipeline import select_and_retrain
from recnas.runtime.progress import setup_logging
from recnas.supernet.derive import derive
from recnas.models.genotype import BUILTINS, Genotype, builtin
from recnas.models.losses import Loss

PIPELINE = "pipeline (--then-select)"
# The same job searching with GDAS, the README's choice "when time is short": on the Gowalla
# sample its search took 11.7 min on 2 cores to DARTS's 43-56, and the whole job 54 min.
PIPELINE_GDAS = "pipeline (--then-select --strategy gdas)"
PIPELINES = {PIPELINE: {}, PIPELINE_GDAS: dict(strategy="gdas")}
GDAS_BUDGET = "GDAS pipeline's budget"
SEARCHES = {"search, order 1": dict(order=1), "search, order 2": dict(order=2),
            "search, GDAS": dict(strategy="gdas"),
            # about the search time of order 1 on ml-100k (~230 s on 2 cores; measured: 180
            # path epochs + 200 cycles took 171 s, 65 reinforce epochs 119 s)
            "search, evolution": dict(strategy="evolution", epochs=240, cycles=280),
            "search, REINFORCE": dict(strategy="reinforce", epochs=125)}
# on the other datasets, the epochs that match DARTS's order-1 search there (measured by
# benchmarks/search_cost.py: results/search_cost_<dataset>.md; evolution keeps its cycles)
SEARCH_EPOCHS = {"gowalla-20pct": {"search, evolution": 236, "search, REINFORCE": 65}}
# each random-search row and the row whose wall time is its budget (a pipeline's: cells and
# training settings drawn, as the pipeline does; the order-1 chain's: cells alone, as that chain)
RANDOM_BUDGETS = {"random search, pipeline budget": PIPELINE,
                  f"random search, {GDAS_BUDGET}": PIPELINE_GDAS,
                  "random search, order-1 budget": "search, order 1"}
ROWS = ([PIPELINE] + [f"built-in {name}" for name in BUILTINS]
        + [f"built-in {name}, tuned" for name in BUILTINS] + ["random search, pipeline budget"]
        + [PIPELINE_GDAS] + [f"built-in {name}, tuned at the {GDAS_BUDGET}" for name in BUILTINS]
        + [f"random search, {GDAS_BUDGET}"]
        + list(SEARCHES) + ["random search, order-1 budget"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml-100k", choices=sorted(DATASETS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--work", default="runs/quality", help="where the run directories go")
    p.add_argument("--rows", nargs="+", metavar="ROW", choices=ROWS,
                   help="only these rows, e.g. 'pipeline (--then-select)' 'built-in lightgcn' "
                        "(default: all, in the order of ROWS)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    setup_logging()
    stem = f"quality_{args.dataset.replace('-', '')}"
    store = RESULTS / f"{stem}.json"
    done = json.loads(store.read_text()) if store.exists() else {"jobs": {}}
    dataset = DATASETS[args.dataset]()
    work = Path(args.work) / args.dataset

    def record(key, value):
        done["jobs"][key] = value
        done["machine"] = machine()
        write_json(store, done)
        table(args.dataset, stem, done)

    runners = {**JOBS, "search, ": partial(search_job, epochs=SEARCH_EPOCHS.get(args.dataset, {}))}
    for seed in args.seeds:
        common = dict(dataset=dataset, seed=seed, device=args.device)
        for row in args.rows or ROWS:
            key = f"{row} | {seed}"
            if key in done["jobs"]:
                continue
            out = work / f"{slug(row)}-seed{seed}"
            with Stopwatch(out / "wall.json") as clock:
                job = runners[kind(row)](row, out, common, done["jobs"], seed)
            if job is None:
                clock.path.unlink()
                print(f"skipped {key}: it needs a row of this seed that is not measured yet")
                continue
            record(key, {**job, "wall_seconds": clock.seconds, "invocations": clock.invocations})
    table(args.dataset, stem, done)     # also when every job asked for was stored already


def kind(row):
    if row in PIPELINES:
        return PIPELINE
    for prefix in ("random search, ", "search, "):
        if row.startswith(prefix):
            return prefix
    return "tuned" if ", tuned" in row else "built-in"


def budget_row(row):
    """The pipeline row whose wall time is the budget of a `tuned` row."""
    return PIPELINE_GDAS if GDAS_BUDGET in row else PIPELINE


def summary(results):
    return {"test": results["test"], "val": results["val"]}


def pipeline_job(row, out, common, jobs, seed):
    results = run(RunConfig.from_flat("search", then_select=True, out=str(out), **PIPELINES[row],
                                      **common), resume=resumable(out))
    search = json.loads((out / "results.json").read_text())
    retrain = json.loads((out / "retrain" / "results.json").read_text())
    chosen = results["selection"]
    return {**summary(results), "search_seconds": search["wall_seconds"],
            "selection_seconds": chosen["seconds"], "retrain_seconds": retrain["wall_seconds"],
            "trials": chosen["trials"], "genotype": chosen["winner"]["describe"]}


def builtin_job(row, out, common, jobs, seed):
    name = row.removeprefix("built-in ")
    results = run(RunConfig.from_flat("retrain", out=str(out), genotype=name, **common),
                  resume=resumable(out))
    return {**summary(results), "genotype": name}


def tuned_job(row, out, common, jobs, seed):
    """One built-in through the selection stage at the pipeline's budget (see the docstring)."""
    pipeline = jobs.get(f"{budget_row(row)} | {seed}")
    if pipeline is None:
        return None
    name = row.removeprefix("built-in ").split(", tuned")[0]
    before_retrain = pipeline["search_seconds"] + pipeline["selection_seconds"]
    # trials until the pipeline's search + selection time is spent (the study's wall cap)
    config = RunConfig.from_flat("search", then_select=True, selection_trials=10 ** 6,
                                 selection_seconds=before_retrain, **common)
    cell = builtin(name, config.train.dim, config.search.nodes)
    results = select_and_retrain(config, {name: cell}, out, run,
                                 resolve_device(common["device"]))
    chosen = results["selection"]
    return {**summary(results), "candidates": chosen["trials"]["finished"],
            "trained": chosen["trials"]["complete"], "selection_seconds": chosen["seconds"],
            "genotype": chosen["winner"]["describe"]}


def random_job(row, out, common, jobs, seed):
    """--strategy random with the wall time of the row RANDOM_BUDGETS names."""
    budget_from = RANDOM_BUDGETS[row]
    joint = budget_from in PIPELINES
    first = jobs.get(f"{budget_from} | {seed}")
    if first is None:
        return None
    budget = first["wall_seconds"]
    results = run(RunConfig.from_flat("random_search", out=str(out), budget_seconds=budget,
                                      sample_settings=joint, **common), resume=resumable(out))
    return {**summary(results), "budget_seconds": budget, "trials": len(results["trials"]),
            "genotype": describe(Genotype.from_dict(results["genotype"]))}


def search_job(row, out, common, jobs, seed, epochs=None):
    """The plain chain: a search, derive, retrain the derived cell with the run's settings.
    ``epochs``: the dataset's SEARCH_EPOCHS."""
    settings = dict(SEARCHES[row])
    if epochs and row in epochs:
        settings["epochs"] = epochs[row]
    with Stopwatch(out / "search-wall.json") as search_clock:
        run(RunConfig.from_flat("search", out=str(out / "search"), **settings, **common),
            resume=resumable(out / "search"))
    genotype = derive(out / "search")
    results = run(RunConfig.from_flat("retrain", out=str(out / "retrain"),
                                      genotype=str(out / "search" / "genotype.json"), **common),
                  resume=resumable(out / "retrain"))
    return {**summary(results), "search_seconds": search_clock.seconds,
            "genotype": genotype.short()}


JOBS = {PIPELINE: pipeline_job, "built-in": builtin_job, "tuned": tuned_job,
        "random search, ": random_job, "search, ": search_job}


def describe(genotype):
    return f"{genotype.short()}; dim {genotype.dim}; " + json.dumps(genotype.hyperparameters,
                                                                  sort_keys=True)


def slug(row):
    return "".join(c if c.isalnum() else "-" for c in row).strip("-").replace("--", "-")


def resumable(run_dir):
    """Whether RUN_DIR holds a job cut off in an earlier invocation (it then continues)."""
    return (Path(run_dir) / CHECKPOINT).exists()


class Stopwatch:
    """Wall seconds of a job over the invocations that ran it, kept in PATH (rewritten every
    30 s from a thread, and at the end)."""

    def __init__(self, path):
        self.path = Path(path)
        before = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.before = before.get("seconds", 0.0)
        self.invocations = before.get("invocations", 0) + 1
        self.started = self.stopped = None
        self.done = threading.Event()

    @property
    def seconds(self):
        return self.before + (self.stopped or time.perf_counter()) - self.started

    def _write(self):
        write_json(self.path, {"seconds": self.seconds, "invocations": self.invocations})

    def _tick(self):
        while not self.done.wait(30):
            self._write()

    def __enter__(self):
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self._thread.join()
        self.stopped = time.perf_counter()
        self._write()
        return False


def chosen(jobs):
    """What each seed's job chose: once when every seed chose the same."""
    values = {seed: job["genotype"] for seed, job in sorted(jobs.items())}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return "<br>".join(f"seed {seed}: {value}" for seed, value in values.items())


def table(dataset, stem, done):
    groups = {}
    for key, job in done["jobs"].items():
        name, seed = key.split(" | ")
        groups.setdefault(name, {})[seed] = job
    baseline = groups.get("built-in lightgcn", {})
    rows = []
    for name in [r for r in ROWS if r in groups]:
        jobs = groups[name]
        recall = np.array([j["test"]["recall@20"] for j in jobs.values()])
        ndcg = np.array([j["test"]["ndcg@20"] for j in jobs.values()])
        val = np.array([j["val"]["recall@20"] for j in jobs.values()])
        ratios = [j["test"]["recall@20"] / baseline[s]["test"]["recall@20"]
                  for s, j in jobs.items() if s in baseline]
        rows.append((name, len(jobs), f"{recall.mean():.4f} ± {recall.std():.4f}",
                     f"{np.mean(ratios):.3f}" if ratios else "–",
                     f"{ndcg.mean():.4f} ± {ndcg.std():.4f}", f"{val.mean():.4f}",
                     f"{np.mean([j['wall_seconds'] for j in jobs.values()]):.0f}"
                     + ("*" if any(j.get("invocations", 1) > 1 for j in jobs.values()) else ""),
                     chosen(jobs)))
    stages = [f"- {key.replace(' | ', ', seed ')}: search {j['search_seconds']:.0f} s, selection "
              f"{j['selection_seconds']:.0f} s ("
              + (", ".join(f"{name} {v['candidates']} candidates {v['seconds']:.0f} s"
                           for name, v in j["stages"].items()) if "stages" in j else
                 f"{j['trials']['complete']} trials complete, {j['trials']['pruned']} pruned")
              + f"), retraining {j['retrain_seconds']:.0f} s"
              for key, j in done["jobs"].items() if key.split(" | ")[0] in PIPELINES]
    t, loss = TrainConfig(), Loss.of(TrainConfig())
    produced_by = (f"`python benchmarks/quality.py --dataset {dataset}` (every row and seed; "
                   f"the jobs already stored in results/{stem}.json are kept, so the table merges "
                   f"the jobs of several invocations; the latest: `{command()}`)")
    save_table(stem, f"Quality on {dataset} (test metrics, mean ± std over seeds)",
               ("system", "seeds", "test Recall@20", "× built-in lightgcn", "test NDCG@20",
                "val Recall@20", "wall s", "chosen (per seed)"), rows,
               ["× built-in lightgcn: the mean over seeds of test Recall@20 ÷ that of the "
                "built-in `lightgcn` with the default recipe on the same seed.", "",
                f"Default recipe: loss {loss.name} ({loss.negatives} shared negatives, "
                f"temperature {loss.temperature}), Adam lr {t.lr}, batch {t.batch_size}, L2 "
                f"{t.l2}, d {t.dim}, up to 200 epochs, early stopping on validation Recall@20 "
                "(patience 10), best epoch restored, test scored once. `tuned` rows and the "
                "pipeline draw width, lr, L2, loss, temperature and negatives as "
                "training/selection.suggest_settings does. A `tuned` row's study starts no "
                "trial once its budget (the pipeline's search + selection seconds) is "
                "spent, and the trial that budget cuts cannot win. Wall times include data loading and come "
                "from one 2-core machine, one job at a time. *: a job of the row was cut off "
                "and continued by a later invocation; its wall time includes the work lost at "
                "the cut (since the last checkpoint) and the data loading repeated.", "",
                "Pipeline stages:", *stages], produced_by=produced_by)


if __name__ == "__main__":
    main()
