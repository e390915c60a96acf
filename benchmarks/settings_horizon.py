"""How early the selection stage can judge training settings: train `lightgcn` to the end (early
stopping on validation) with the run's settings and with random ones drawn from
training/selection.SETTINGS_SPACE as the pipeline draws them, keep every epoch's validation
Recall@20, then replay on those curves what a successive halving (no budget) would pick when its
first round trains F epochs, for several F, and which test Recall@20 that pick reaches.

    python benchmarks/settings_horizon.py --dataset ml-100k --samples 16
    python benchmarks/settings_horizon.py --dataset gowalla-20pct --samples 6 \
        --settings '{"temperature": 4.0, "l2": 0.01, "negatives": 4096}'

It answers two questions the quality table leaves open: how much a settings search can gain at
all over the default recipe (the best test among the drawn settings), and whether the
selection's short first rounds (5 epochs by default) pick settings that still win at the end
(Kendall τ between the validation score after F epochs and the final one).

The replay: a candidate's score after E epochs is its best validation Recall@20 within them (as
the halving's early-stopped trainings report), rounds of F · 3^r epochs up to 45 keep the best
third; the winner's test is that of its full training (the pipeline's retraining continues the
winner's training with the same seed, so it ends where the full training ends). Test is read
here only to score the picks; the picks use validation alone.

Every finished training is saved at once to benchmarks/results/settings_horizon_<dataset>.json
(a rerun skips it) and the table settings_horizon_<dataset>.md is rewritten."""
import argparse
import hashlib
import json
import random
from pathlib import Path

from common import QUALITY_DATASETS as DATASETS, RESULTS, machine, save_table
from recnas.evaluation.correlation import kendall_tau
from recnas.runtime.checkpoint import CHECKPOINT
from recnas.app.config import RunConfig
from recnas.runtime.files import write_json
from recnas.app.jobs import run
from recnas.runtime.progress import setup_logging
from recnas.models.genotype import builtin
from recnas.training.selection import successive_halving, with_settings

FIRST_EPOCHS = (1, 3, 5, 10, 15, 45)
MAX_EPOCHS, ETA = 45, 3


def drawn_settings(n, seed, extra=()):
    """The run's settings ({}), n random ones, drawn as runtime.pipeline.settings_pool draws
    them for its first cell, and the ``extra`` ones: {name: {dim, hyper-parameters}}."""
    rng, chosen = random.Random(seed), {"defaults": {}}
    for settings in extra:
        chosen.setdefault(json.dumps(settings, sort_keys=True), settings)
    for _ in range(n):
        cell = with_settings(builtin("lightgcn", 64, 3), rng)
        settings = {"dim": cell.dim, **cell.hyperparameters}
        chosen.setdefault(json.dumps(settings, sort_keys=True), settings)
    return chosen


def best_within(curve, epochs):
    """Best validation score of ``curve`` ([(epoch, score)]) up to ``epochs``."""
    return max(score for epoch, score in curve if epoch <= epochs)


def replay_halving(curves, first_epochs):
    """The candidate (key of ``curves``) that training.selection.successive_halving picks
    without a budget when each training's score is read off its curve."""
    names = list(curves)
    rounds = successive_halving(len(names), lambda c, epochs: (best_within(curves[names[c]],
                                                                           epochs), 0.0),
                                first_epochs, MAX_EPOCHS, ETA)
    return names[rounds[-1].kept[0]]


def table(dataset, stem, done):
    runs = done["runs"]
    if "defaults" not in runs:
        return
    base = runs["defaults"]["test"]
    curves = {name: [(r["epoch"], r["val_recall@20"]) for r in job["history"]
                     if "val_recall@20" in r] for name, job in runs.items()}
    final = [runs[n]["val"] for n in runs]
    rows = []
    for f in FIRST_EPOCHS:
        pick = replay_halving(curves, f)
        early = [best_within(curves[n], f) for n in runs]
        rows.append((f"halving, first round {f} epochs", f"{kendall_tau(early, final):.2f}",
                     pick, f"{runs[pick]['val']:.4f}", f"{runs[pick]['test']:.4f}",
                     f"{runs[pick]['test'] / base:.3f}"))
    best_val = max(runs, key=lambda n: runs[n]["val"])
    best_test = max(runs, key=lambda n: runs[n]["test"])
    for label, pick in (("best final validation", best_val), ("best test (oracle)", best_test)):
        rows.append((label, "", pick, f"{runs[pick]['val']:.4f}", f"{runs[pick]['test']:.4f}",
                     f"{runs[pick]['test'] / base:.3f}"))
    details = ["Every training (by final validation): settings, best epoch, val, test R@20, "
               "÷ defaults, seconds:", ""]
    given = set(done.get("extra", ()))
    details += [f"- {name}{' (given, not drawn)' if name in given else ''}: epoch {job['epoch']}, "
                f"val {job['val']:.4f}, test {job['test']:.4f} ({job['test'] / base:.3f}), "
                f"{job['seconds']:.0f} s"
                for name, job in sorted(runs.items(), key=lambda kv: -kv[1]["val"])]
    save_table(stem, f"Settings chosen after F epochs vs at the end, `lightgcn` on {dataset}",
               ("rule", "Kendall τ (val after F epochs vs final val)", "picked settings",
                "val R@20", "test R@20", "× defaults"), rows,
               [f"Seed {done['seed']}; {len(runs)} settings (the run's, random draws of "
                "training/selection.SETTINGS_SPACE and any given with --settings); each "
                "trained to early stopping on validation (patience 10, at most 200 epochs). "
                "Halving: rounds of F · 3^r "
                f"epochs up to {MAX_EPOCHS}, keeping the best third, scored by the best "
                "validation so far; its pick's test is that of its full training.", ""]
               + details)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml-100k", choices=sorted(DATASETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=16, help="random settings drawn")
    p.add_argument("--settings", type=json.loads, action="append", default=[], metavar="JSON",
                   help='settings to train besides the draws, e.g. \'{"temperature": 4.0, '
                        '"l2": 0.01, "negatives": 4096}\' (repeatable)')
    p.add_argument("--work", default="runs/settings_horizon")
    args = p.parse_args()
    setup_logging()
    stem = f"settings_horizon_{args.dataset.replace('-', '')}"
    store = RESULTS / f"{stem}.json"
    done = json.loads(store.read_text()) if store.exists() else {"seed": args.seed, "runs": {}}
    if done["seed"] != args.seed:
        raise SystemExit(f"{store} holds seed {done['seed']}; move it away to measure another")
    dataset = DATASETS[args.dataset]()
    extra = done.setdefault("extra", [])
    extra += [n for n in (json.dumps(s, sort_keys=True) for s in args.settings) if n not in extra]
    for name, settings in drawn_settings(args.samples, args.seed, args.settings).items():
        if name in done["runs"]:
            continue
        out = Path(args.work) / args.dataset / hashlib.sha1(name.encode()).hexdigest()[:12]
        results = run(RunConfig.from_flat("retrain", out=str(out), genotype="lightgcn",
                                          dataset=dataset, seed=args.seed, device="cpu",
                                          **settings),
                      resume=(out / CHECKPOINT).exists())
        done["runs"][name] = {"settings": settings, "epoch": results["epoch"],
                              "val": results["val"]["recall@20"],
                              "test": results["test"]["recall@20"],
                              "seconds": results["train_seconds"],
                              "history": results["history"]}
        done["machine"] = machine()
        write_json(store, done)
        table(args.dataset, stem, done)
    table(args.dataset, stem, done)


if __name__ == "__main__":
    main()
