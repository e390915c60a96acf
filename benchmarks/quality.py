"""Quality on ml-100k: test Recall@20 / NDCG@20 (mean ± std over seeds) of the searched
architectures (first order, second order, GDAS), random search at the first-order pipeline's
wall budget, and every built-in genotype, each retrained with the same protocol.

Every finished job is saved at once to benchmarks/results/quality_<dataset>.json, so a run that
is cut off keeps what it measured and a rerun skips it (a job that was cut off starts again);
the markdown table is rewritten after each job. Jobs run one after another (parallel runs on two cores distort every timing).
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from common import RESULTS, machine, save_table
from runtime.config import RetrainConfig, RunConfig, TrainConfig
from runtime.files import write_json
from runtime.jobs import run
from supernet.derive import derive
from supernet.genotype import BUILTINS, Genotype
from training.losses import Loss

SEARCHES = {"search, order 1": dict(order=1), "search, order 2": dict(order=2),
            "search, GDAS": dict(strategy="gdas")}
RETRAIN_EPOCHS = RetrainConfig().epochs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--work", default="runs/quality", help="where the run directories go")
    p.add_argument("--systems", nargs="+", metavar="ROW",
                   help="only these rows, e.g. 'search, order 1' 'built-in lightgcn' (default: all)")
    p.add_argument("--name", help="results file stem (default: quality_<dataset>)")
    args = p.parse_args()
    stem = args.name or f"quality_{args.dataset.replace('-', '')}"
    store = RESULTS / f"{stem}.json"
    wanted = lambda row: args.systems is None or row in args.systems
    done = json.loads(store.read_text()) if store.exists() else {"jobs": {}}
    work = Path(args.work)

    def record(key, value):
        done["jobs"][key] = value
        done["machine"] = machine()
        write_json(store, done)
        table(args.dataset, stem, done)

    for seed in args.seeds:
        common = dict(dataset=args.dataset, seed=seed, device="cpu")

        def retrain(genotype, out):
            config = RunConfig.from_flat("retrain", out=str(out), genotype=str(genotype), **common)
            start = time.perf_counter()
            results = run(config)
            return results, time.perf_counter() - start

        for name, settings in SEARCHES.items():
            key = f"{name} | {seed}"
            if key in done["jobs"] or not wanted(name):
                continue
            out = fresh(work / f"{name.replace(', ', '-').replace(' ', '')}-seed{seed}")
            start = time.perf_counter()
            run(RunConfig.from_flat("search", out=str(out / "search"), **settings, **common))
            search_s = time.perf_counter() - start
            genotype = derive(out / "search")
            results, retrain_s = retrain(out / "search" / "genotype.json", out / "retrain")
            record(key, {"test": results["test"], "val": results["val"],
                         "search_seconds": search_s, "retrain_seconds": retrain_s,
                         "genotype": genotype.short()})
        key = f"random search, same budget | {seed}"
        if key not in done["jobs"] and wanted("random search, same budget"):
            first = done["jobs"][f"search, order 1 | {seed}"]
            budget = first["search_seconds"] + first["retrain_seconds"]
            start = time.perf_counter()
            out = fresh(work / f"random-seed{seed}")
            results = run(RunConfig.from_flat("random_search", out=str(out),
                                              budget_seconds=budget, **common))
            record(key, {"test": results["test"], "val": results["val"],
                         "search_seconds": time.perf_counter() - start, "retrain_seconds": 0,
                         "budget_seconds": budget, "trials": len(results["trials"]),
                         "genotype": Genotype.from_dict(results["genotype"]).short()})
        for name in BUILTINS:
            key = f"built-in {name} | {seed}"
            if key in done["jobs"] or not wanted(f"built-in {name}"):
                continue
            results, retrain_s = retrain(name, fresh(work / f"{name}-seed{seed}"))
            record(key, {"test": results["test"], "val": results["val"], "search_seconds": 0,
                         "retrain_seconds": retrain_s, "genotype": name})


def fresh(path):
    """PATH emptied of what a job cut off in an earlier call left there: the job runs again
    from the start, so that its wall time is one uninterrupted measurement."""
    shutil.rmtree(path, ignore_errors=True)
    return path


def table(dataset, stem, done):
    groups = {}
    for key, job in done["jobs"].items():
        name = key.split(" | ")[0]
        groups.setdefault(name, []).append(job)
    rows = []
    for name, jobs in groups.items():
        recall = np.array([j["test"]["recall@20"] for j in jobs])
        ndcg = np.array([j["test"]["ndcg@20"] for j in jobs])
        val = np.array([j["val"]["recall@20"] for j in jobs])
        rows.append((name, len(jobs), f"{recall.mean():.4f} ± {recall.std():.4f}",
                     f"{ndcg.mean():.4f} ± {ndcg.std():.4f}", f"{val.mean():.4f}",
                     f"{np.mean([j['search_seconds'] for j in jobs]):.0f}",
                     f"{np.mean([j['retrain_seconds'] for j in jobs]):.0f}",
                     "; ".join(sorted({str(j['genotype']) for j in jobs}))))
    t, loss = TrainConfig(), Loss.of(TrainConfig())
    negatives = ("" if loss.name == "bpr" else
                 f"{loss.negatives} shared negatives, temperature {loss.temperature}, ")
    save_table(stem, f"Quality on {dataset} (test metrics, mean ± std over seeds)",
               ("system", "seeds", "test Recall@20", "test NDCG@20", "val Recall@20",
                "search s", "retrain s", "architectures"), rows,
               [f"Every architecture is retrained with the same protocol (loss {loss.name}, "
                f"Adam lr {t.lr}, batch {t.batch_size}, L2 {t.l2}, {negatives}d {t.dim}, up to "
                f"{RETRAIN_EPOCHS} epochs, early stopping on val Recall@20 with patience 10, best "
                "epoch restored, test scored once); searches train the supernet with "
                f"{Loss.of(t, search=True).name}. Random "
                "search gets the wall time of the first-order search + retrain of the same seed. "
                "Wall times include the process's data loading and are from one shared 2-core "
                "machine."])


if __name__ == "__main__":
    main()
