"""One supernet forward + backward (DARTS weights, every op on every edge) next to the sum of
every candidate op run separately on every edge's input, in the same run; optionally the wall
time of `python train.py` with its defaults (ml-100k)."""
import subprocess
import sys
import tempfile
import time

import torch

from common import ROOT, device_and_sync, parser, save_table, timed
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import DataConfig, load_interactions
from recnas.ops import make_op
from recnas.supernet.model import Supernet
from recnas.models.space import SearchSpace


def main():
    p = parser(__doc__)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--train-wall", action="store_true",
                   help="also time `python train.py` with defaults (minutes)")
    args = p.parse_args()
    device, sync = device_and_sync(args)

    data = load_interactions(DataConfig(dataset=args.dataset))
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    torch.manual_seed(0)
    space = SearchSpace(n_nodes=args.nodes)
    model = Supernet(data.n_users, data.n_items, args.dim, space).to(device)
    grad = torch.randn(graph.n_nodes, args.dim, device=device)

    def supernet_step():
        model.zero_grad(set_to_none=True)
        model(graph, model.arch_weights("darts")).backward(grad)

    # Every edge's input state; each candidate op then runs on it on its own (own propagation).
    with torch.no_grad():
        states = [model.embedding.detach()]
        for j in range(1, args.nodes + 1):
            states.append(torch.tanh(states[-1] + torch.randn_like(states[-1]) * 0.1))
    ops = {name: make_op(name, args.dim).to(device) for name in space.computed_ops}
    inputs = [states[i].clone().requires_grad_() for i, _ in space.edges]

    def op_step(name, x):
        def step():
            x.grad = None
            ops[name](x, graph).backward(grad)
        return step

    # Rounds alternate the supernet and the separate ops, so load from other processes on this
    # shared machine hits both alike; each figure is the median over rounds.
    supernet_times, per_op_times = [], {name: [] for name in ops}
    for _ in range(args.repeat):
        supernet_times.append(timed(supernet_step, 1, sync)[0])
        for name in ops:
            per_op_times[name].append(sum(timed(op_step(name, x), 1, sync)[0] for x in inputs))
    median = lambda values: sorted(values)[len(values) // 2]
    supernet_s = median(supernet_times)
    per_op = {name: median(times) for name, times in per_op_times.items()}
    separate_s = sum(per_op.values())
    ratios = [s / sum(per_op_times[n][r] for n in ops) for r, s in enumerate(supernet_times)]

    n_edges = len(space.edges)
    rows = [(f"{name}, on each of {n_edges} edges", f"{seconds * 1e3:.0f}", "")
            for name, seconds in per_op.items()]
    rows += [("sum of every candidate op run separately", f"{separate_s * 1e3:.0f}", "1.00"),
             ("supernet forward + backward", f"{supernet_s * 1e3:.0f}",
              f"{supernet_s / separate_s:.2f} (target <= 0.7)")]
    ratio_range = f"{min(ratios):.2f}..{max(ratios):.2f}"
    notes = [f"Median of {args.repeat} rounds after a warm-up; each round times the supernet, "
             f"then every op on every edge (per-round ratios {ratio_range}). The supernet "
             "shares each node's adjacency products between its ops and runs each op once per "
             "source node (op weights shared by the edges leaving a node); `zero` costs nothing."]
    if args.train_wall:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "train.py"), "--out", out,
                            "--device", args.device], check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
        notes.append(f"`python train.py` with defaults (ml-100k search): {wall:.0f} s wall.")
    save_table(f"supernet_{args.dataset}_{device.type}",
               f"Supernet vs separate ops, forward + backward, {args.dataset}, d = {args.dim}, "
               f"K = {args.nodes} ({n_edges} edges, {len(space.ops)} candidates)",
               ("what", "ms", "x separate"), rows, notes)


if __name__ == "__main__":
    main()
