"""Top-K recommendations in the user's own ids from a retrained model (recommend.py)."""
import json
from pathlib import Path

import numpy as np
import torch

from recnas.runtime.errors import ConfigError, DataError
from recnas.runtime.files import save_torch, write_text
from recnas.runtime.progress import log
from recnas.evaluation.metrics import Ranker, cold_start

BUNDLE = "model.pt"


def save_bundle(run_dir, model, reps, genotype, data, config):
    """RUN_DIR/model.pt: the weights, the final representations and what serving needs to
    answer in the user's own ids (id maps, seen items, cold users and item popularity)."""
    cold, popularity = cold_start(data)
    save_torch(Path(run_dir) / BUNDLE, {
        "model": model.state_dict(), "genotype": genotype.to_dict(), "config": config.to_dict(),
        "refit": config.retrain.refit, "representations": reps.float().cpu(),
        "n_users": data.n_users, "user_ids": data.user_ids.tolist(),
        "item_ids": data.item_ids.tolist(), "seen": np.concatenate([data.train, data.val]),
        "cold_users": cold, "popularity": popularity, "dataset": data.name})


def load_bundle(run_dir):
    path = Path(run_dir) / BUNDLE
    if not path.exists():
        raise DataError(path, "no trained model here; retrain first: "
                              "python train.py --genotype FILE|NAME --out RUN_DIR")
    return torch.load(path, map_location="cpu", weights_only=False)


def read_users(path, index):
    """Raw user ids, one per line (blank lines skipped) -> user indices; unknown ids fail."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file")
    users = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        raw = line.strip()
        if not raw:
            continue
        if raw not in index:
            raise DataError(path, f"user id {raw!r} never appeared in the data", line_no)
        users.append(index[raw])
    if not users:
        raise DataError(path, "no user ids in the file")
    return users


def recommend(run_dir, out=None, users_file=None, k=20, include_seen=False, fmt="tsv",
              device="cpu", chunk_size=1024):
    """Write the top-``k`` items of every user (or of the users in ``users_file``); returns the
    output path. Seen (training + validation) items are excluded unless ``include_seen``."""
    bundle = load_bundle(run_dir)
    user_ids, item_ids = bundle["user_ids"], bundle["item_ids"]
    n_users, n_items = len(user_ids), len(item_ids)
    reps = bundle["representations"].to(device)
    if users_file:
        users = read_users(users_file, {raw: u for u, raw in enumerate(user_ids)})
    else:
        users = list(range(n_users))
    cold = np.asarray(bundle["cold_users"])
    ranker = Ranker([] if include_seen else [bundle["seen"]], n_users, n_items, chunk_size,
                    device, cold, bundle["popularity"])
    users_t = torch.tensor(users, dtype=torch.long, device=device)
    out = Path(out) if out else Path(run_dir) / f"recommendations.{fmt}"
    lists = []   # per chunk: (users, items, scores) as numpy
    for chunk, top, scores in ranker.chunks(reps[:n_users], reps[n_users:], users_t, k):
        lists.append((chunk.cpu().numpy(), top.cpu().numpy(), scores.float().cpu().numpy()))
    if fmt == "tsv":
        write_text(out, _tsv(lists, user_ids, item_ids, cold))
    elif fmt == "json":
        write_text(out, _json(lists, user_ids, item_ids, cold, k))
    else:
        raise ConfigError(f"unknown format {fmt!r}; choose tsv or json")
    log.info(f"top-{k} recommendations for {len(users):,} users written to {out}")
    return out


def _tsv(lists, user_ids, item_ids, cold):
    lines = ["user\trank\titem\tscore\tsource"]
    for users, items, scores in lists:
        for u, row_items, row_scores in zip(users.tolist(), items.tolist(), scores.tolist()):
            user, source = user_ids[u], "popular" if cold[u] else "model"
            lines.extend(f"{user}\t{rank}\t{item_ids[i]}\t{s:.6g}\t{source}"
                         for rank, (i, s) in enumerate(zip(row_items, row_scores), 1)
                         if s != float("-inf"))
    return "\n".join(lines) + "\n"


def _json(lists, user_ids, item_ids, cold, k):
    entries = []
    for users, items, scores in lists:
        for u, row_items, row_scores in zip(users.tolist(), items.tolist(), scores.tolist()):
            entries.append({"user": user_ids[u], "source": "popular" if cold[u] else "model",
                            "items": [{"item": item_ids[i], "score": s}
                                      for i, s in zip(row_items, row_scores)
                                      if s != float("-inf")]})
    return json.dumps({"k": k, "recommendations": entries}, indent=1) + "\n"
