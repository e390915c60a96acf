"""Training recipes on Gowalla (LightGCN's split), built-in `lightgcn`: validation Recall@20
against training time, and test Recall@20 / NDCG@20 of the epoch chosen on validation (`refit`
recipes then train on train + validation for that many epochs; the clock counts everything).
Recipes run back to back, one process each time the script is called; a recipe that was cut off
continues from its checkpoint when the same command runs again, and a finished one is skipped.
`--report` only writes the table of what ran so far.

Writes benchmarks/results/gowalla_recipe_<device>.md."""
import argparse
import json
import re
import time
from pathlib import Path

import torch

from common import RESULTS, save_table
from recnas.runtime.checkpoint import CHECKPOINT
from recnas.app.config import RunConfig
from recnas.app.jobs import run
from recnas.runtime.progress import format_seconds, setup_logging

PAPER = {"recall@20": 0.1830, "ndcg@20": 0.1554}
RECIPES = {   # flags of train.py; every recipe: 3 layers, d 64, LightGCN's L2 meaning
    "bpr-paper": dict(loss="bpr", lr=1e-3, l2=1e-4, batch_size=2048, eval_every=5, patience=10),
    "softmax-4096": dict(loss="softmax", negatives=4096, temperature=0.1, lr=5e-3, l2=0.0,
                         batch_size=8192, eval_every=2, patience=5),
    "softmax-4096-t1": dict(loss="softmax", negatives=4096, temperature=1.0, lr=5e-3, l2=0.0,
                            batch_size=8192, eval_every=2, patience=5),
    "softmax-4096-t1-refit": dict(loss="softmax", negatives=4096, temperature=1.0, lr=5e-3,
                                  l2=0.0, batch_size=8192, eval_every=2, patience=5, refit=True),
    "softmax-4096-t4-l2": dict(loss="softmax", negatives=4096, temperature=4.0, lr=5e-3,
                               l2=1e-2, batch_size=8192, eval_every=4, patience=5),
    "ccl-1024": dict(loss="ccl", negatives=1024, margin=0.4, negative_weight=50.0, lr=5e-3,
                     l2=0.0, batch_size=8192, eval_every=2, patience=5),
}
MARKS = (300, 600, 1200, 1800, 2700, 3600)      # seconds at which the curve is read


def config(name, args):
    """A recipe's run; one that refits selects in half the time limit, so that the refit (at
    most as many epochs) fits in the other half."""
    recipe = RECIPES[name]
    limit = args.time_limit / 2 if recipe.get("refit") else args.time_limit
    return RunConfig.from_flat("retrain", dataset=args.dataset, device=args.device,
                               out=str(Path(args.out) / name), genotype="lightgcn", dim=64,
                               epochs=1000, time_limit=limit, **recipe)


def history_of(run_dir):
    """(per-epoch history, results or None) of a recipe's run so far."""
    results_path = run_dir / "results.json"
    if results_path.exists():
        results = json.loads(results_path.read_text())
        return results["history"], results
    if (run_dir / CHECKPOINT).exists():
        state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)
        return state["fit"]["progress"]["history"], None
    return [], None


def paper_run_of_gowalla_lightgcn(device):
    """(history, results-like dict) of benchmarks/gowalla_lightgcn.py's saved table: the same
    BPR settings as ``bpr-paper``, measured by that script (epoch, validation, training time;
    test of its best epoch so far), or None when it has no table for ``device``."""
    path = RESULTS / f"gowalla_lightgcn_{device}.md"
    if not path.exists():
        return None
    history, test = [], None
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            parts = [int(x) for x in cells[4].split(":")]
            seconds = sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
            history.append({"epoch": int(cells[0]), "val_recall@20": float(cells[2]),
                            "seconds": seconds})
        match = re.search(r"\(epoch (\d+),.*Recall@20 ([0-9.]+), NDCG@20 ([0-9.]+)", line)
        if match:
            test = {"epoch": int(match[1]), "train_seconds": history[-1]["seconds"],
                    "test": {"recall@20": float(match[2]), "ndcg@20": float(match[3])}}
    return (history, test) if history else None


def report(args):
    rows, borrowed = [], False
    for name in args.recipes:
        history, results = history_of(Path(args.out) / name)
        if not history and name == "bpr-paper" and paper_run_of_gowalla_lightgcn(args.device):
            history, results = paper_run_of_gowalla_lightgcn(args.device)
            name, borrowed = "bpr-paper †", True
        evaluated = [h for h in history if "val_recall@20" in h]
        best = lambda limit: max((h["val_recall@20"] for h in evaluated if h["seconds"] <= limit),
                                 default=None)
        curve = [f"{v:.4f}" if (v := best(mark)) is not None else "" for mark in MARKS]
        if results:
            test = results["test"]
            final = (f"{test['recall@20']:.4f}", f"{test['ndcg@20']:.4f}", str(results["epoch"]),
                     format_seconds(results["train_seconds"]))
        else:
            final = ("running" if history else "not run", "", "", "")
        rows.append((name, *curve, *final))
    save_table(f"gowalla_recipe_{args.device}",
               "Gowalla, `lightgcn`: best validation Recall@20 by training time, and test",
               ("recipe", *[f"val R@20 {format_seconds(m)}" for m in MARKS], "test R@20",
                "test NDCG@20", "chosen epoch", "training time"), rows,
               ["Recipes: " + "; ".join(f"**{n}** {RECIPES[n]}" for n in args.recipes),
                f"Each recipe stops selecting after --time-limit {args.time_limit:.0f} s of "
                "training + validation (half of it for `refit` recipes); test is scored once, with the best weights on validation, "
                "or for `refit` recipes with a fresh model trained on train + validation for the "
                "chosen number of epochs (training time includes that refit). Each recipe ran "
                "alone on a 2-core machine, one after another when run by one command. Targets: "
                "test "
                f"Recall@20 >= 0.180, NDCG@20 >= 0.153 (paper {PAPER['recall@20']} / "
                f"{PAPER['ndcg@20']} after 1000 epochs)."]
               + (["† bpr-paper's own run is absent: its row is "
                   f"benchmarks/results/gowalla_lightgcn_{args.device}.md (benchmarks/"
                   "gowalla_lightgcn.py, the same settings, validation every 10 epochs, run "
                   "alone on a machine of the same kind on another day, not back to back; cut "
                   "off after 90 epochs, so its test is that of the best epoch so far)."]
                  if borrowed else []))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--out", default="runs/gowalla-recipe")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--time-limit", type=float, default=3300.0,
                   help="training seconds per recipe (the rest of the hour: loading, test)")
    p.add_argument("--report", action="store_true", help="only write the table so far")
    args = p.parse_args()
    if not args.report:
        setup_logging()
        for name in args.recipes:
            run_dir = Path(args.out) / name
            if (run_dir / "results.json").exists():
                continue
            start = time.perf_counter()
            run(config(name, args), resume=(run_dir / CHECKPOINT).exists())
            print(f"{name}: {format_seconds(time.perf_counter() - start)} wall in this call")
            report(args)
    report(args)


if __name__ == "__main__":
    main()
