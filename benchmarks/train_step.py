"""Cost of one training step on a dataset's graph (default Gowalla): the built-in `lightgcn`
(3 layers, d 64) forward + loss + backward + Adam, as a ratio of the propagation floor measured
in the same run: 6 bare CSR products of the same adjacency (3 forward, 3 backward).

Each loss is timed at its recipe's batch: BPR at 2048 (LightGCN's paper), sampled softmax and
CCL at --batch-size with each --negatives count of shared negatives (the default 1024 and the
Gowalla recipe's 4096). Rounds alternate floor and steps."""
import time

import torch

from common import device_and_sync, parser, save_table
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import DataConfig, load_interactions
from recnas.data.sampler import BPRSampler
from recnas.models.genotype import builtin
from recnas.models.losses import Loss
from recnas.models.net import StandaloneNet


def main():
    p = parser(__doc__)
    p.add_argument("--batch-size", type=int, default=8192)
    p.add_argument("--negatives", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    device, sync = device_and_sync(args)
    data = load_interactions(DataConfig(dataset=args.dataset))
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    csr = graph.csr["sym_adj"][0]
    x = torch.randn(graph.n_nodes, args.dim, device=device)
    sampler = BPRSampler(data.train, data.n_users, data.n_items, seed=0)
    recipes = {"bpr": (Loss("bpr"), 2048)}
    for name in ("softmax", "ccl"):
        for m in args.negatives:
            recipes[f"{name}, {m} negatives"] = (Loss(name, negatives=m), args.batch_size)
    torch.manual_seed(0)
    model = StandaloneNet(data.n_users, data.n_items, builtin("lightgcn", args.dim)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def floor():
        for _ in range(6):
            torch.sparse.mm(csr, x)

    def step(loss, batch):
        def run():
            total, _ = loss.on(model(graph), model.embedding, batch, model.n_users)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
        return run

    batches = {name: next(sampler.batches(size, device, loss.shared_negatives))
               for name, (loss, size) in recipes.items()}
    fns = {"6 CSR products (floor)": floor,
           **{name: step(loss, batches[name]) for name, (loss, _) in recipes.items()}}
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()                                    # warm-up
    for _ in range(args.rounds):
        for name, fn in fns.items():
            if sync:
                sync()
            start = time.perf_counter()
            fn()
            if sync:
                sync()
            times[name].append(time.perf_counter() - start)
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    base = median["6 CSR products (floor)"]
    rows = [(name, recipes[name][1] if name in recipes else "", f"{median[name] * 1e3:.0f}",
             f"{median[name] / base:.2f}") for name in fns]
    save_table(f"train_step_{args.dataset}_{device.type}",
               f"One training step of `lightgcn` (3 layers, d {args.dim}) on {args.dataset}, "
               f"as a ratio of 6 bare CSR products", ("step", "batch", "ms", "x floor"), rows,
               [f"Median of {args.rounds} alternating rounds after a warm-up. Target for the "
                "step: <= 1.5 x floor."])


if __name__ == "__main__":
    main()
