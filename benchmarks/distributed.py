"""Epoch time and training samples per second of one process vs. N processes (torchrun, data
parallel) on the same global batch, for a retraining of `lightgcn` and a supernet search, in
one run of this script:

    python benchmarks/distributed.py --dataset ml-100k --processes 1 2

One process is the plain command (`python train.py`, every core for its threads); N processes
are `torchrun --standalone --nproc_per_node N train.py` with --batch-size divided by N, so every
row trains the same batches (runtime/distributed.py) and only the time differs. Epoch times are
medians over the epochs after the first (the first warms up; validation runs only at the end).
"""
import json
import os
import subprocess
import sys
import time

from common import ROOT, gowalla_sample, save_table

JOBS = {"retrain": ("retrain lightgcn", ["--genotype", "lightgcn", "--eval-every", "1000"]),
        "search": ("search (DARTS, order 1)", ["--warmup-epochs", "0"])}


def dataset_flag(name):
    return str(gowalla_sample(0.2, 0, ROOT / "runs" / "data")) if name == "gowalla-20pct" \
        else name


def launch(processes, flags, out):
    """Run train.py with ``flags`` on ``processes`` processes; returns its results.json."""
    command = [sys.executable, str(ROOT / "train.py")] if processes == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         str(processes), str(ROOT / "train.py")]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    started = time.perf_counter()
    done = subprocess.run(command + flags + ["--out", str(out)], capture_output=True, text=True,
                          env=env)
    if done.returncode:
        sys.exit(f"failed: {' '.join(command + flags)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    results = json.loads((out / "results.json").read_text())
    results["command_seconds"] = time.perf_counter() - started
    return results


def epoch_seconds(results):
    """Median seconds of a training epoch after the first."""
    history = results["history"]
    if "train_seconds" in history[0]:                      # a search: per-epoch training time
        times = [h["train_seconds"] for h in history[1:]]
    else:                                                  # a retraining: cumulative seconds,
        cumulative = [h["seconds"] for h in history[:-1]]  # the last epoch also validates
        times = [b - a for a, b in zip(cumulative, cumulative[1:])]
    return sorted(times)[len(times) // 2]


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml-100k", help="ml-100k, gowalla-20pct, or any --dataset")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch-size", type=int, default=2048, help="global batch (all processes)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--jobs", nargs="+", choices=JOBS, default=list(JOBS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--work", default=str(ROOT / "runs" / "bench-distributed"))
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    for name in args.jobs:
        (job, job_flags), base = JOBS[name], None
        for n in args.processes:
            out = ROOT / args.work / f"{args.dataset}-{name}-{n}"
            subprocess.run(["rm", "-rf", str(out)], check=True)
            flags = ["--dataset", dataset_flag(args.dataset), "--device", args.device,
                     "--epochs", str(args.epochs), "--batch-size", str(args.batch_size // n),
                     *job_flags]
            results = launch(n, flags, out)
            seconds = epoch_seconds(results)
            pairs = results["dataset"]["train"]
            base = base or seconds
            rows.append((job, n, max(1, cores // n) if args.device == "cpu" else 1,
                         f"{args.batch_size // n} x {n}", f"{seconds:.2f}",
                         f"{pairs / seconds:,.0f}", f"{base / seconds:.2f}",
                         f"{results['val']['recall@20']:.4f}"))
            print(rows[-1], flush=True)
    save_table(f"distributed_{args.dataset}_{args.device}" + (
        "" if args.jobs == list(JOBS) else "_" + "_".join(args.jobs)),
               f"Data-parallel processes on {args.dataset}: epoch time, same global batch",
               ("job", "processes", "threads each", "batch per process x processes",
                "epoch s", "training pairs / s", "speed-up", "val recall@20"), rows,
               [f"{args.epochs} epochs per run; epoch seconds are the median after the first. "
                "Every row trains the same batches, so its validation equals the first row's "
                "up to float rounding.",
                "Each process propagates the whole graph and all-reduces the dense (users + "
                "items) x d gradient of the embedding table every step: the split part is the "
                "loss over the batch's rows (and the evaluation's users)."])


if __name__ == "__main__":
    main()
