"""The Optuna selection against the default `lightgcn`: test Recall@20 / NDCG@20 per seed of

- the main job (`train.py --then-select`, its defaults: 30 trials, TPE, Hyperband, the final
  model on train + validation for the winner's epochs);
- the same winner's final model on the training rows alone (`--final-train-only`, the old
  behaviour: a plain retraining of `selection/genotype.json` with early stopping, which is what
  that flag runs);
- the built-in `lightgcn` at its defaults (`train.py --genotype lightgcn`), the reference of the
  ratios.

Each job is a subprocess run with `--threads`; a finished job (its results.json) is not run
again, so a cut benchmark continues. The table is rewritten after each job, from every job
stored under runs/selection/<dataset>/.
"""
import argparse
import json
import subprocess
import sys
import time

from common import QUALITY_DATASETS as DATASETS, ROOT, machine, save_table

RUNS = ROOT / "runs" / "selection"


def job(name, dataset, seed, threads, flags):
    """Run ``train.py FLAGS`` once into runs/selection/<dataset>/<name>-seed<seed>; returns its
    final results.json and the wall seconds (stored beside, so a rerun reports the first)."""
    out = RUNS / dataset / f"{name}-seed{seed}"
    final = out / "retrain" / "results.json" if "--then-select" in flags else out / "results.json"
    wall = out.parent / f"{out.name}.wall"
    if not final.exists():
        started = time.time()
        resume = ["--resume", str(out)] if (out / "config.json").exists() else \
            ["--dataset", DATASETS[dataset](), "--seed", str(seed), "--out", str(out), *flags]
        subprocess.run([sys.executable, str(ROOT / "train.py"), *resume, "--threads",
                        str(threads)], check=True, cwd=ROOT)
        before = float(wall.read_text()) if wall.exists() else 0.0
        wall.write_text(str(before + time.time() - started))
    return json.loads(final.read_text()), float(wall.read_text())


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", default="ml-100k", choices=tuple(DATASETS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    for seed in args.seeds:
        base, base_wall = job("lightgcn", args.dataset, seed, args.threads,
                              ["--genotype", "lightgcn"])
        main_job, main_wall = job("main", args.dataset, seed, args.threads, ["--then-select"])
        genotype = RUNS / args.dataset / f"main-seed{seed}" / "selection" / "genotype.json"
        train_only, only_wall = job("train-only", args.dataset, seed, args.threads,
                                    ["--genotype", str(genotype)])
        write(args, stored(args.dataset))
        if seed == args.seeds[0]:
            picture(RUNS / args.dataset / f"main-seed{seed}" / "selection",
                    ROOT / "docs" / f"selection_importances_{args.dataset.replace('-', '')}.png")


def picture(select_dir, png):
    """The study's parameter importances as a PNG for the README (matplotlib, when installed;
    the run directory's plots/ are the HTML versions)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import optuna
        from optuna.visualization.matplotlib import plot_param_importances
    except ImportError:
        print("matplotlib is not installed: no PNG of the importances")
        return
    record = json.loads((select_dir / "selection.json").read_text())
    study = optuna.load_study(study_name=record["study"], storage=record["storage"])
    axes = plot_param_importances(study,
                                  evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    axes.figure.set_size_inches(7, 3.5)
    axes.figure.tight_layout()
    axes.figure.savefig(png, dpi=100)
    print(f"wrote {png}")


def stored(dataset):
    """seed -> job -> (final results, wall seconds), for every seed whose three jobs are done
    (whichever invocation ran them)."""
    rows = {}
    for wall in sorted((RUNS / dataset).glob("main-seed*.wall")):
        seed = int(wall.stem.removeprefix("main-seed"))
        jobs = {}
        for name in ("lightgcn", "main", "train-only"):
            out = RUNS / dataset / f"{name}-seed{seed}"
            final = out / "retrain" / "results.json" if name == "main" else out / "results.json"
            if final.exists() and out.with_name(out.name + ".wall").exists():
                jobs[name] = (json.loads(final.read_text()),
                              float(out.with_name(out.name + ".wall").read_text()))
        if len(jobs) == 3:
            rows[seed] = jobs
    return rows


def write(args, rows):
    names = {"main": "main job (Optuna selection, final model on train + validation)",
             "train-only": "the same winner trained on the training rows alone "
                           "(--final-train-only)",
             "lightgcn": "`lightgcn`, defaults (the reference)"}
    table = []
    for name, title in names.items():
        ratios = [rows[s][name][0]["test"]["recall@20"] / rows[s]["lightgcn"][0]["test"]["recall@20"]
                  for s in rows]
        recalls = [rows[s][name][0]["test"]["recall@20"] for s in rows]
        ndcgs = [rows[s][name][0]["test"]["ndcg@20"] for s in rows]
        walls = [rows[s][name][1] for s in rows]
        table.append((title, ", ".join(f"{r:.3f}" for r in ratios),
                      f"{sum(ratios) / len(ratios):.3f}", f"{sum(recalls) / len(recalls):.4f}",
                      f"{sum(ndcgs) / len(ndcgs):.4f}",
                      f"{sum(walls) / len(walls) / 60:.1f} min"))
    notes = []
    for s in rows:
        sel = json.loads((RUNS / args.dataset / f"main-seed{s}" / "selection" /
                          "selection.json").read_text())
        notes.append(f"- seed {s}: winner `{sel['winner']['describe']}` (trial "
                     f"{sel['winner']['number']}, cell {sel['winner']['cell']}, val "
                     f"{sel['winner']['value']:.4f} at epoch {sel['winner']['epoch']}; the "
                     f"incumbent {sel['incumbent']['value']:.4f}); trials: "
                     f"{sel['trials']['complete']} complete, {sel['trials']['pruned']} pruned, "
                     f"{sel['seconds'] / 60:.1f} min of training")
    save_table(f"selection_{args.dataset.replace('-', '')}",
               f"The Optuna selection on {args.dataset}: test Recall@20 against the default "
               f"lightgcn, seeds {', '.join(map(str, rows))} ({machine()}, --threads "
               f"{args.threads})",
               ["job", "test R@20 / lightgcn, per seed", "mean ratio", "R@20", "N@20",
                "wall time"], table, notes)


if __name__ == "__main__":
    main()
