"""Run a job end to end: data -> graph -> model -> evaluation -> run directory."""
import time
from datetime import datetime
from pathlib import Path

import torch

from data.graph import BipartiteGraph
from data.interactions import load_interactions
from .config import RunConfig
from .evaluate import RankingEvaluator
from .files import write_json


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda given, but torch sees no CUDA device")
    return torch.device(name)


def run_dir(config: RunConfig):
    return Path(config.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))


def run(config: RunConfig, log=print):
    """Load, build, (train), evaluate; returns the results dict also written to results.json."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    out = run_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.to_dict())

    data = load_interactions(config.data)
    log(data.summary())
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    if config.epochs > 0:
        raise ValueError("training (--epochs > 0) needs the supernet search, not built yet; "
                         "use --epochs 0 to evaluate the untrained model")

    generator = torch.Generator().manual_seed(config.seed)
    embedding = (torch.randn(graph.n_nodes, config.dim, generator=generator) * 0.1).to(device)
    user_emb, item_emb = embedding[:data.n_users], embedding[data.n_users:]

    def evaluator(heldout, exclude):
        return RankingEvaluator(heldout, exclude, data.n_users, data.n_items, config.topk,
                                config.eval_chunk_size, device)

    results = {
        "dataset": {"name": data.name, **data.counts()},
        "val": evaluator(data.val, [data.train])(user_emb, item_emb),
        "test": evaluator(data.test, [data.train, data.val])(user_emb, item_emb),
        "device": str(device),
        "wall_seconds": time.perf_counter() - started,
    }
    write_json(out / "results.json", results)
    k = config.topk[0]
    for split in ("val", "test"):
        m = results[split]
        log(f"{split}: recall@{k} {m[f'recall@{k}']:.4f}  ndcg@{k} {m[f'ndcg@{k}']:.4f}  "
            f"({m['users']} users)")
    log(f"results written to {out / 'results.json'}")
    return results
