"""Foundation speed on Gowalla: load, graph build, BPR sampling, full-ranking evaluation.

The evaluation is timed next to its floor measured in the same run: the bare chunked
matmul + top-k over the same users (no masking, no metrics).
"""
import time

import torch

from common import device_and_sync, parser, save_table, timed
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import DataConfig, load_interactions
from recnas.data.sampler import BPRSampler
from recnas.evaluation.metrics import RankingEvaluator


def main():
    p = parser(__doc__)
    p.add_argument("--chunk-size", type=int, default=1024)
    args = p.parse_args()
    device, sync = device_and_sync(args)

    start = time.perf_counter()
    data = load_interactions(DataConfig(dataset=args.dataset))
    load_s = time.perf_counter() - start
    build_s, graph = timed(lambda: BipartiteGraph.from_pairs(data.train, data.n_users,
                                                             data.n_items), repeat=3)
    sampler = BPRSampler(data.train, data.n_users, data.n_items, seed=0)
    sample_s, _ = timed(sampler.epoch_triples, repeat=5)

    generator = torch.Generator().manual_seed(0)
    user_emb = torch.randn(data.n_users, args.dim, generator=generator).to(device)
    item_emb = torch.randn(data.n_items, args.dim, generator=generator).to(device)
    evaluator = RankingEvaluator(data.test, [data.train, data.val], data.n_users, data.n_items,
                                 ks=(20,), chunk_size=args.chunk_size, device=device)

    def bare():
        item_t = item_emb.t()
        for s in range(0, len(evaluator.users), args.chunk_size):
            users = evaluator.users[s:s + args.chunk_size]
            (user_emb[users] @ item_t).topk(20, dim=1)

    with torch.no_grad():
        bare_s, _ = timed(bare, sync=sync)
        eval_s, metrics = timed(lambda: evaluator(user_emb, item_emb), sync=sync)

    rows = [
        ("load (read, ids, splits)", f"{load_s:.2f} s", ""),
        ("graph build (4 adjacencies)", f"{build_s:.2f} s", ""),
        ("BPR sampler, one epoch", f"{sample_s:.3f} s",
         f"{len(sampler) / sample_s / 1e6:.1f} M triples/s (target >= 5)"),
        ("bare chunked matmul + top-20", f"{bare_s:.2f} s", "floor"),
        (f"full-ranking evaluation, {metrics['users']:,} test users", f"{eval_s:.2f} s",
         f"{eval_s / bare_s:.2f} x floor (target <= 1.5)"),
    ]
    save_table(f"foundation_{args.dataset}_{device.type}",
               f"Foundation speed, {args.dataset} ({data.n_users:,} users, {data.n_items:,} items, "
               f"{len(data.train):,} train interactions), d = {args.dim}",
               ("step", "time", "rate / ratio"), rows,
               ["Median of 3 runs after a warm-up (sampler: 5); the floor is timed in the same run."])


if __name__ == "__main__":
    main()
