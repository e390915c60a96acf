"""Run a job: data -> graph -> search, random search or retraining -> run directory."""
import time
from datetime import datetime
from pathlib import Path

import torch

from data.graph import BipartiteGraph
from data.interactions import load_interactions
from . import checkpoint
from .config import RunConfig
from .files import write_json
from .retrain import random_search, retrain
from .search import search


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda given, but torch sees no CUDA device")
    return torch.device(name)


def run_dir(config: RunConfig):
    return Path(config.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))


def run(config: RunConfig, resume=False, log=print):
    """Search, random search or retraining, as ``config`` says (continuing the checkpoint in
    the run directory when ``resume``); returns the results dict also written to
    RUN_DIR/results.json."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    out = run_dir(config)
    if not resume and (out / checkpoint.CHECKPOINT).exists():
        raise ValueError(f"{out} already holds a run; continue it with --resume {out} or "
                         "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.to_dict())
    log(f"run directory: {out}  (watch it: tensorboard --logdir {out})")

    data = load_interactions(config.data)
    log(data.summary())
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    if config.genotype:
        results = retrain(config, data, graph, out, device, log)
    elif config.strategy == "random":
        results = random_search(config, data, graph, out, device, log)
    else:
        results = search(config, data, graph, out, device, log)
    results = {"dataset": {"name": data.name, **data.counts()}, **results,
               "device": str(device), "wall_seconds": time.perf_counter() - started}
    write_json(out / "results.json", results)
    k = config.topk[0]
    for split in ("val", "test"):
        m = results[split]
        log(f"{split}: recall@{k} {m[f'recall@{k}']:.4f}  ndcg@{k} {m[f'ndcg@{k}']:.4f}  "
            f"({m['users']} users)")
    log(f"results written to {out / 'results.json'}")
    return results
