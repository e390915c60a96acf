"""Shared by the benchmark scripts: flags, timing, saving a markdown table with its command."""
import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent

from recnas.runtime.files import write_text  # noqa: E402


def parser(description):
    """The flags every speed benchmark takes: --dataset (gowalla), --device (cpu), --dim (64)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dim", type=int, default=64)
    return p


def device_and_sync(args):
    """(torch device, the function that waits for it: None on the CPU)."""
    device = torch.device(args.device)
    return device, torch.cuda.synchronize if device.type == "cuda" else None


def timed(fn, repeat=3, sync=None):
    """Median wall seconds of ``repeat`` calls of ``fn`` (after a warm-up call), and its result."""
    result = fn()
    times = []
    for _ in range(repeat):
        if sync:
            sync()
        start = time.perf_counter()
        result = fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], result


def machine():
    device = (torch.cuda.get_device_name() if torch.cuda.is_available()
              else f"CPU, {torch.get_num_threads()} threads")
    return f"{platform.processor() or platform.machine()}, {device}, torch {torch.__version__}"


def command():
    """This invocation as a command line run from the repository root."""
    return shlex.join(["python", os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])


def save_table(name, title, header, rows, notes=(), produced_by=None):
    """Print the table and write it (atomically) to benchmarks/results/<name>.md with the
    producing command: this invocation's, unless PRODUCED_BY says otherwise."""
    lines = [f"# {title}", "",
             f"Command: {produced_by or f'`{command()}`'}",
             f"Machine: {machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    lines += [""] + list(notes)
    text = "\n".join(lines) + "\n"
    print(text)
    write_text(RESULTS / f"{name}.md", text)


def gowalla_sample(fraction=0.2, seed=0, root=Path("runs/data")):
    """A seeded user sample of the bundled Gowalla (LightGCN's split): each kept user's train
    and test lines unchanged, written once as ROOT/gowalla-<percent>pct-seed<seed>/{train,test}.txt;
    returns that directory (a --dataset). Items no kept user has are simply absent."""
    import gzip
    import numpy as np
    out = root / f"gowalla-{round(fraction * 100)}pct-seed{seed}"
    if (out / "test.txt").exists():
        return out
    bundled = ROOT / "data" / "bundled" / "gowalla"
    lines = {split: gzip.open(bundled / f"{split}.txt.gz", "rt").read().splitlines()
             for split in ("train", "test")}
    users = sorted({line.split(maxsplit=1)[0] for line in lines["train"] if line.strip()})
    rng = np.random.default_rng(seed)
    kept = set(rng.choice(users, size=round(fraction * len(users)), replace=False).tolist())
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in lines.items():
        chosen = [line for line in rows if line.strip() and line.split(maxsplit=1)[0] in kept]
        tmp = out / f"{split}.txt.tmp"
        tmp.write_text("\n".join(chosen) + "\n")
        tmp.replace(out / f"{split}.txt")
    return out


# the datasets of the quality benchmarks (quality.py, settings_horizon.py): name -> the --dataset
# value, built on first use (the Gowalla sample is written once under runs/data)
QUALITY_DATASETS = {"ml-100k": lambda: "ml-100k",
                    "gowalla-20pct": lambda: str(gowalla_sample(0.2, 0)),
                    "gowalla-5pct": lambda: str(gowalla_sample(0.05, 0))}
