"""Run a job: data -> graph -> search, random search or retraining -> run directory."""
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import torch

from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions
from recnas.supernet.derive import derive
from recnas.supernet import search
from recnas.supernet.strategies import random as random_search
from recnas.training import retrain
from recnas.runtime import checkpoint, distributed
from recnas.app.config import RunConfig
from recnas.runtime.errors import ConfigError
from recnas.runtime.files import write_json
from recnas.app.pipeline import join, joinable, search_select_retrain
from recnas.training.selection import check_config as check_selection
from recnas.runtime.progress import log

JOBS = {"search": (search.check, search.search), "retrain": (retrain.check, retrain.retrain),
        "random_search": (random_search.check, random_search.random_search)}


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda given, but torch sees no CUDA device")
    return torch.device(name)


def run_dir(config: RunConfig):
    """``--out``, or a new runs/<timestamp> directory (so a command can be run again)."""
    if config.out:
        return Path(config.out)
    stem = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = stem, 1
    while path.exists():
        n += 1
        path = stem.with_name(f"{stem.name}-{n}")
    return path


def run(config: RunConfig, resume=False, read_test=True):
    """Search, random search or retraining, as ``config.mode`` says (continuing the checkpoint
    in the run directory when ``resume``); returns the results dict also written to
    RUN_DIR/results.json. The data are read and checked before anything is written. The
    searches before a selection (``--then-select``, or ``read_test`` False) never see the test
    split: test is scored once, by the final retraining."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    if config.mode == "search" and config.search.then_select:
        check_selection(config.select)
        if distributed.agree(joinable(config)):     # another machine made the study: help it
            return join(config, device)
    out = run_dir(config)
    if not resume and (out / checkpoint.CHECKPOINT).exists():
        raise ConfigError(f"{out} already holds a run; continue it with --resume {out} or "
                          "choose another --out")
    data = load_interactions(config.data, config.seed)
    log.info(data.summary())
    if not read_test or (config.mode == "search" and config.search.then_select):
        data = data.without_test()
    check, job = JOBS[config.mode]
    check(config, data)
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.to_dict())
    log.info(f"run directory: {out}  (watch it: tensorboard --logdir {out})")
    results = job(config, data, graph, out, device)
    results = {"dataset": data.record(), **results, "device": str(device),
               "processes": distributed.world_size(),
               "wall_seconds": time.perf_counter() - started}
    write_json(out / "results.json", results)
    k = config.topk[0]
    for split in ("val", "test"):
        m = results[split]
        if m is not None:
            log.info(f"{split}: recall@{k} {m[f'recall@{k}']:.4f}  ndcg@{k} {m[f'ndcg@{k}']:.4f}"
                     f"  ({m['users']} users)")
    log.info(f"results written to {out / 'results.json'}")
    if config.mode == "search" and config.search.then_retrain:
        return derive_and_retrain(config, out)
    if config.mode == "search" and config.search.then_select:
        return search_select_retrain(config, out, run, device)
    return results


def derive_and_retrain(config, search_dir):
    """The rest of the main job after a search: derive SEARCH_DIR/genotype.json and retrain it
    in SEARCH_DIR/retrain (continuing a retraining cut off there); its results are returned."""
    derive(search_dir)
    retrain_dir = search_dir / "retrain"
    retrain_config = replace(config, mode="retrain", out=str(retrain_dir),
                             retrain=replace(config.retrain,
                                             genotype=str(search_dir / "genotype.json")))
    log.info(f"retraining the derived architecture in {retrain_dir}")
    return run(retrain_config, resume=(retrain_dir / checkpoint.CHECKPOINT).exists())
