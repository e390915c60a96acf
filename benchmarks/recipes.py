"""Training recipes compared on every built-in genotype: the previous default (BPR, one uniform
negative per positive) against today's defaults (`python train.py --help`), mean ± std over
seeds of validation Recall@20 (what chose the defaults), test Recall@20 / NDCG@20 (scored once,
best epoch on validation) and retraining time.

Every finished job is saved at once to benchmarks/results/recipes_<dataset>.json, so a run that
is cut off keeps what it measured and a rerun skips it. `--jobs N` runs N retrainings at a time,
each with `--threads` torch threads (their times are then those of a loaded machine).
"""
import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from common import RESULTS, machine, save_table
from recnas.runtime.checkpoint import CHECKPOINT
from recnas.app.config import RunConfig, TrainConfig
from recnas.runtime.files import write_json
from recnas.app.jobs import run
from recnas.models.genotype import BUILTINS
from recnas.models.losses import Loss

OLD = "bpr (old default)"
RECIPES = {OLD: dict(loss="bpr", lr=5e-3, l2=1e-4, batch_size=2048), "defaults": {}}


def retrain(config, threads):
    """One job, in a worker process, continuing its checkpoint when it was cut off."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    results = run(config, resume=(Path(config.out) / CHECKPOINT).exists())
    return {"val": results["val"], "test": results["test"], "epoch": results["epoch"],
            "seconds": time.perf_counter() - start}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--genotypes", nargs="+", default=list(BUILTINS), choices=list(BUILTINS))
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--jobs", type=int, default=1, help="retrainings at a time")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="torch threads per retraining")
    p.add_argument("--work", default="runs/recipes", help="where the run directories go")
    args = p.parse_args()
    stem = f"recipes_{args.dataset.replace('-', '')}"
    store = RESULTS / f"{stem}.json"
    done = json.loads(store.read_text()) if store.exists() else {"jobs": {}}
    todo = {f"{genotype} | {recipe} | {seed}": RunConfig.from_flat(
                "retrain", dataset=args.dataset, seed=seed, device="cpu", genotype=genotype,
                out=str(Path(args.work) / f"{genotype}-{recipe.split()[0]}-seed{seed}"),
                **RECIPES[recipe])
            for seed in args.seeds for genotype in args.genotypes for recipe in args.recipes}
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(retrain, config, args.threads): key
                   for key, config in todo.items() if key not in done["jobs"]}
        for future in as_completed(futures):
            done["jobs"][futures[future]] = future.result()
            done["machine"] = f"{machine()}; {args.jobs} job(s) at a time, " \
                              f"{args.threads} thread(s) each"
            write_json(store, done)
            table(args.dataset, stem, done)
    table(args.dataset, stem, done)


def table(dataset, stem, done):
    groups = {}
    for key in sorted(done["jobs"], key=lambda k: (BUILTINS.index(k.split(" | ")[0]), k)):
        genotype, recipe, _ = key.split(" | ")
        groups.setdefault((genotype, recipe), []).append(done["jobs"][key])
    mean_std = lambda xs: f"{np.mean(xs):.4f} ± {np.std(xs):.4f}"
    val_mean = lambda jobs: np.mean([j["val"]["recall@20"] for j in jobs])
    rows = []
    for (genotype, recipe), jobs in groups.items():
        old = groups.get((genotype, OLD))
        rows.append((genotype, recipe, len(jobs), mean_std([j["val"]["recall@20"] for j in jobs]),
                     f"{val_mean(jobs) / val_mean(old):.3f}" if old else "",
                     mean_std([j["test"]["recall@20"] for j in jobs]),
                     mean_std([j["test"]["ndcg@20"] for j in jobs]),
                     f"{np.mean([j['epoch'] for j in jobs]):.0f}",
                     f"{np.mean([j['seconds'] for j in jobs]):.0f}"))
    t, loss = TrainConfig(), Loss.of(TrainConfig())
    save_table(stem, f"Training recipes on {dataset}: every built-in genotype, old vs new",
               ("genotype", "recipe", "seeds", "val Recall@20", "val ÷ old", "test Recall@20",
                "test NDCG@20", "chosen epoch", "retrain s"), rows,
               [f"`{OLD}`: {RECIPES[OLD]}. `defaults`: loss {loss.name}, lr {t.lr}, L2 {t.l2}, "
                f"batch {t.batch_size}, {t.negatives} shared negatives, temperature "
                f"{t.temperature}. Both: d {t.dim}, early stopping on validation Recall@20 "
                "(patience 10), best epoch restored, test scored once. Jobs: "
                f"{done.get('machine', '')}; wall times include data loading."])


if __name__ == "__main__":
    main()
