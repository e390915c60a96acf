"""Trials per hour of the selection with 1 and with 2 worker processes on one machine
(`--workers`), the same threads in all (`--threads`, shared out among the workers).

Both runs train the same trials: the built-in cells with the run's settings, then trials drawn
by the seeded random sampler (each trial's draw depends on its number alone), no pruning, each
trained for exactly `--trial-epochs` epochs (no early stopping within them). So the work is
equal and only how it is spread differs. Each run is a fresh study in
runs/workers/<dataset>/workers-<N>/.
"""
import argparse
import shutil
import time

import torch

from common import QUALITY_DATASETS as DATASETS, ROOT, machine, save_table
from recnas.app import pipeline
from recnas.app.config import RunConfig
from recnas.models.genotype import BUILTINS, builtin
from recnas.runtime.progress import set_threads, setup_logging


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", default="ml-100k", choices=tuple(DATASETS))
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--trial-epochs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    setup_logging()
    rows, where = [], machine()                # before the workers change the thread count
    for workers in (1, 2):
        set_threads(args.threads)
        out = ROOT / "runs" / "workers" / args.dataset / f"workers-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        config = RunConfig.from_flat(
            "search", then_select=True, dataset=DATASETS[args.dataset](), device="cpu",
            selection_trials=args.trials, sampler="random", pruner="none",
            epochs=args.trial_epochs, patience=10 ** 6, workers=workers,
            study_name=f"workers-{workers}")
        config.retrain.epochs = args.trial_epochs
        cells = {name: builtin(name, config.train.dim, config.search.nodes) for name in BUILTINS}
        started = time.perf_counter()
        record = pipeline.select(config, cells, out, torch.device("cpu"))
        seconds = time.perf_counter() - started
        rows.append((workers, f"{args.threads // workers} each", record["trials"]["finished"],
                     f"{seconds:.0f}", f"{record['trials']['finished'] / seconds * 3600:.0f}",
                     f"{float(rows[0][3]) / seconds if rows else 1.0:.2f} x"))
    save_table(f"workers_{args.dataset.replace('-', '')}",
               f"Selection throughput with 1 and 2 workers on {args.dataset} ({where})",
               ["workers", "threads", "trials", "wall s", "trials per hour", "speed-up"], rows,
               [f"Each trial: {args.trial_epochs} epochs and a validation after each, no "
                "pruning; the same trials in both rows (the 5 built-ins with the run's settings, "
                "then seeded random draws). Wall time includes loading the data in each worker "
                "and writing the study's plots."])


if __name__ == "__main__":
    main()
