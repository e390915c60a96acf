"""Forward + backward time of every candidate op on a dataset's graph (default Gowalla, d = 64),
next to the floor measured in the same run: a plain torch.sparse CSR sparse-dense matmul of the
same adjacency, forward + backward (A^T g, via autograd)."""

import torch

from common import device_and_sync, parser, save_table, timed
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import DataConfig, load_interactions
from recnas.ops import OPS, make_op

TARGETS = {"lightgcn": 1.2, "gcn": 1.6, "sage": 1.6, "gat": 4.0}


def main():
    p = parser(__doc__)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    device, sync = device_and_sync(args)

    data = load_interactions(DataConfig(dataset=args.dataset))
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
    torch.manual_seed(0)
    x = torch.randn(graph.n_nodes, args.dim, device=device, requires_grad=True)
    grad = torch.randn(graph.n_nodes, args.dim, device=device)

    csr = graph.csr["sym_adj"][0]

    def step(fn):
        def run():
            x.grad = None
            fn().backward(grad)
        return run

    floor_s, _ = timed(step(lambda: torch.sparse.mm(csr, x)), args.repeat, sync)
    with torch.no_grad():
        forward_s, _ = timed(lambda: torch.sparse.mm(csr, x), args.repeat, sync)
    rows = [("torch.sparse CSR spmm, forward + backward (floor)", f"{floor_s * 1e3:.1f}", "1.00", ""),
            ("torch.sparse CSR spmm, forward only", f"{forward_s * 1e3:.1f}",
             f"{forward_s / floor_s:.2f}", "")]
    for name in OPS:
        op = make_op(name, args.dim).to(device)
        seconds, _ = timed(step(lambda: op(x, graph)), args.repeat, sync)
        target = TARGETS.get(name)
        ratio = seconds / floor_s
        verdict = "" if target is None else f"<= {target} {'ok' if ratio <= target else 'MISSED'}"
        rows.append((name, f"{seconds * 1e3:.1f}", f"{ratio:.2f}", verdict))
    save_table(f"ops_{args.dataset}_{device.type}",
               f"Candidate ops, forward + backward, {args.dataset} graph ({graph.n_nodes:,} nodes, "
               f"{graph.csr['sym_adj'][0]._nnz():,} non-zeros), d = {args.dim}",
               ("op", "ms", "x floor", "target"), rows,
               [f"Median of {args.repeat} runs after a warm-up; floor and ops timed in the same run. "
                "`zero` (no edge) computes nothing and has no row. The ops beat the "
                "floor because their backward multiplies by a cached transpose (the matrix itself "
                "when symmetric), where torch's CSR autograd transposes on every call."])


if __name__ == "__main__":
    main()
