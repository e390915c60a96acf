"""Time to write the top-20 list of every user (recommend.py's path: load the run's bundle, rank
with seen items masked, write the TSV) next to the bare chunked matmul + top-k of the same
users, in the same run. The model is random 64-d vectors over the dataset's real ids and splits."""
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import device_and_sync, parser, save_table, timed
from recnas.data.interactions import DataConfig, load_interactions
from recnas.runtime.files import save_torch
from recnas.evaluation.serving import recommend


def main():
    p = parser(__doc__)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--chunk-size", type=int, default=1024)
    args = p.parse_args()
    device, sync = device_and_sync(args)
    data = load_interactions(DataConfig(dataset=args.dataset))
    seen = np.concatenate([data.train, data.val])
    reps = torch.randn(data.n_users + data.n_items, args.dim, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as run_dir:
        save_torch(Path(run_dir) / "model.pt", {
            "representations": reps, "n_users": data.n_users, "user_ids": data.user_ids.tolist(),
            "item_ids": data.item_ids.tolist(), "seen": seen,
            "cold_users": np.bincount(seen[:, 0], minlength=data.n_users) == 0,
            "popularity": np.bincount(seen[:, 1], minlength=data.n_items).astype(np.float32)})
        users_e, items_e = reps[:data.n_users].to(device), reps[data.n_users:].to(device)

        def bare():
            for s in range(0, data.n_users, args.chunk_size):
                (users_e[s:s + args.chunk_size] @ items_e.t()).topk(args.k, dim=1)

        with torch.no_grad():
            bare_s, _ = timed(bare, 3, sync)
            ours_s, out = timed(lambda: recommend(run_dir, k=args.k, device=args.device,
                                                  chunk_size=args.chunk_size),
                                3, sync)
        lines = sum(1 for _ in open(out)) - 1
    rows = [("bare chunked matmul + top-k", f"{bare_s:.2f}", "1.00"),
            (f"recommend.py path: load, mask seen, rank, write {lines:,} TSV lines",
             f"{ours_s:.2f}", f"{ours_s / bare_s:.2f} (target <= 1.5)")]
    save_table(f"recommend_{args.dataset}_{device.type}",
               f"Top-{args.k} for all {data.n_users:,} users of {args.dataset}, d = {args.dim}",
               ("what", "s", "x bare"), rows,
               ["Median of 3 runs after a warm-up, both in the same run."])


if __name__ == "__main__":
    main()
