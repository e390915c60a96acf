"""Jobs that share a machine: the seconds of one search epoch on ml-100k alone, beside one other
recnas job and beside two, every job at its default thread count (no --threads, no OpenMP
variables set by hand). The other jobs are long searches started first; the measured job is
`train.py --epochs 2 --warmup-epochs 1` and its second epoch (one with α steps) is read from
its results.json.

    python benchmarks/threads.py                       # this checkout
    python benchmarks/threads.py --repo /tmp/before --label before   # another checkout

Each job runs its checkout's own `train.py` as a user would, so the same script measures the
code before and after a change. Writes results/threads_<label>.md.
"""
import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def start(repo, out, epochs, warmup, dataset):
    """A recnas search in ``repo`` writing to ``out``, started as a user would start it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "MKL_"))}
    cmd = [sys.executable, "train.py", "--dataset", dataset, "--epochs", str(epochs),
           "--warmup-epochs", str(warmup), "--out", str(out)]
    return subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def epoch_seconds(repo, others, dataset, tmp, settle):
    """Training seconds of the measured job's search epoch beside ``others`` busy jobs."""
    background = [start(repo, Path(tmp) / f"other{others}_{i}", 1000, 0, dataset)
                  for i in range(others)]
    try:
        time.sleep(settle if others else 0)       # let the others load their data and train
        out = Path(tmp) / f"measured{others}"
        job = start(repo, out, 2, 1, dataset)
        _, err = job.communicate()
        if job.returncode != 0:
            raise SystemExit(f"measured job failed:\n{err[-2000:]}")
        history = json.loads((out / "results.json").read_text())["history"]
        return history[1]["train_seconds"]
    finally:
        for b in background:
            b.kill()
            b.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=str(ROOT), help="the checkout whose train.py runs")
    p.add_argument("--label", default="after", help="names the results file")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--others", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--settle", type=float, default=10.0,
                   help="seconds the other jobs run before the measured one starts")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for others in args.others:
            seconds = epoch_seconds(args.repo, others, args.dataset, tmp, args.settle)
            rows.append((others, seconds))
            print(f"beside {others} other job(s): {seconds:.1f} s", flush=True)
    alone = dict(rows).get(0)
    lines = [f"# One search epoch beside other recnas jobs ({args.label})", "",
             f"Command: `{shlex.join(['python', 'benchmarks/threads.py'] + sys.argv[1:])}`  ",
             f"Checkout: `{args.repo}`; machine: {platform.machine()}, {os.cpu_count()} cores; "
             f"dataset {args.dataset}; every job at its default threads.", "",
             "| other recnas jobs | search epoch (s) | × alone |", "|---|---|---|"]
    for others, seconds in rows:
        ratio = f"{seconds / alone:.2f}" if alone else "–"
        lines.append(f"| {others} | {seconds:.1f} | {ratio} |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"threads_{args.label}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
