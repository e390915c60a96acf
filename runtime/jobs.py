"""Run a job: data -> graph -> search, random search or retraining -> run directory."""
import time
from datetime import datetime
from pathlib import Path

import torch

from data.graph import BipartiteGraph
from data.interactions import load_interactions
from supernet.search import search
from training.random_search import random_search
from training.retrain import retrain
from . import checkpoint
from .config import RunConfig
from .errors import ConfigError
from .files import write_json
from .progress import log

JOBS = {"search": search, "retrain": retrain, "random_search": random_search}


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda given, but torch sees no CUDA device")
    return torch.device(name)


def run_dir(config: RunConfig):
    return Path(config.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))


def run(config: RunConfig, resume=False):
    """Search, random search or retraining, as ``config.mode`` says (continuing the checkpoint
    in the run directory when ``resume``); returns the results dict also written to
    RUN_DIR/results.json. The data are read and checked before anything is written."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    out = run_dir(config)
    if not resume and (out / checkpoint.CHECKPOINT).exists():
        raise ConfigError(f"{out} already holds a run; continue it with --resume {out} or "
                          "choose another --out")
    data = load_interactions(config.data, config.seed)
    log.info(data.summary())
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.to_dict())
    log.info(f"run directory: {out}  (watch it: tensorboard --logdir {out})")
    results = JOBS[config.mode](config, data, graph, out, device)
    results = {"dataset": data.record(), **results, "device": str(device),
               "wall_seconds": time.perf_counter() - started}
    write_json(out / "results.json", results)
    k = config.topk[0]
    for split in ("val", "test"):
        m = results[split]
        if m is not None:
            log.info(f"{split}: recall@{k} {m[f'recall@{k}']:.4f}  ndcg@{k} {m[f'ndcg@{k}']:.4f}"
                     f"  ({m['users']} users)")
    log.info(f"results written to {out / 'results.json'}")
    return results
