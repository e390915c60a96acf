"""Recipe sweep on Gowalla, built-in `lightgcn`: validation and test Recall@20 every few epochs
for each recipe, to see where a recipe peaks and whether it overfits (meant for a GPU, where an
epoch takes about a second; on 2 CPU cores use benchmarks/gowalla_recipe.py, which measures
against wall time). A diagnostic: test is printed at every evaluation to show the val/test gap,
and the table's test column is the one at the epoch with the best validation score.

    python benchmarks/gowalla_sweep.py --device cuda --budget 75 \\
        --recipes '{"temperature": 4, "l2": 1e-2}' '{"loss": "bpr", "lr": 1e-2, "l2": 1e-4}'

appends to benchmarks/results/gowalla_sweep_<device>.log and rewrites the table
gowalla_sweep_<device>.md from that log (`--report` only rewrites the table)."""
import argparse
import json
import time

import torch

from common import RESULTS, machine
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions
from recnas.data.sampler import BPRSampler
from recnas.evaluation.metrics import RankingEvaluator, score_test
from recnas.app.config import RunConfig
from recnas.models.genotype import builtin
from recnas.models.losses import Loss
from recnas.models.net import StandaloneNet

BASE = dict(loss="softmax", l2=0.0, temperature=1.0, lr=5e-3, negatives=4096, batch_size=8192,
            epochs=200, eval_every=5)
SHOWN_EPOCHS = (10, 20, 30, 50, 65, 100)


def sweep_one(recipe, data, graph, config, device, budget, say):
    """Train one recipe from the same seed, evaluating every eval_every epochs; stops after
    ``budget`` seconds."""
    torch.manual_seed(0)
    model = StandaloneNet(data.n_users, data.n_items, builtin("lightgcn", 64)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    loss = Loss(recipe["loss"], l2=recipe["l2"], negatives=recipe["negatives"],
                temperature=recipe["temperature"])
    sampler = BPRSampler(data.train, data.n_users, data.n_items, seed=[0, 1])
    val = RankingEvaluator(data.val, [data.train], data.n_users, data.n_items, device=device)
    start = time.perf_counter()
    for epoch in range(1, recipe["epochs"] + 1):
        model.train()
        for batch in sampler.batches(recipe["batch_size"], device, loss.shared_negatives):
            total, _ = loss.on(model(graph), model.embedding, batch, model.n_users)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
        if epoch % recipe["eval_every"] == 0:
            model.eval()
            with torch.no_grad():
                reps = model(graph)
            v = val(reps[:data.n_users], reps[data.n_users:])
            t = score_test(reps, data, config, device)
            say(f"epoch {epoch} {time.perf_counter() - start:.0f}s val {v['recall@20']:.4f} "
                f"test {t['recall@20']:.4f} ndcg {t['ndcg@20']:.4f}")
            if time.perf_counter() - start > budget:
                break


def parse_log(path):
    """[(recipe dict, {epoch: (val, test, ndcg)})] from a sweep log."""
    runs, machine_line = [], ""
    for line in path.read_text().splitlines():
        if line.startswith("# machine:"):
            machine_line = line[len("# machine:"):].strip()
        elif line.startswith("## "):
            runs.append((json.loads(line[3:]), {}, machine_line))
        elif line.startswith("epoch "):
            f = line.split()
            runs[-1][1][int(f[1])] = (float(f[4]), float(f[6]), float(f[8]))
    return runs


def report(device):
    log = RESULTS / f"gowalla_sweep_{device}.log"
    rows, machines = [], []
    for recipe, curve, where in parse_log(log):
        machines += [where] if where not in machines else []
        changed = {k: v for k, v in recipe.items() if BASE.get(k) != v and k != "epochs"}
        best = max(curve, key=lambda e: curve[e][0])
        shown = [f"{curve[e][0]:.4f}" if e in curve else "" for e in SHOWN_EPOCHS]
        rows.append((json.dumps(changed), *shown, best, f"{curve[best][0]:.4f}",
                     f"{curve[best][1]:.4f}", f"{curve[best][2]:.4f}", max(curve)))
    header = ("changed from the base recipe", *[f"val {e}" for e in SHOWN_EPOCHS],
              "best val epoch", "best val", "test R@20 there", "test NDCG@20 there",
              "epochs run")
    lines = ["# Gowalla recipe sweep, `lightgcn`: validation Recall@20 by epoch, and test at the "
             "best validation epoch", "",
             f"From `{log.relative_to(RESULTS.parent.parent)}` (each recipe's command and output); "
             "table by `python benchmarks/gowalla_sweep.py --report --device "
             f"{device}`.", "", f"Base recipe: {json.dumps(BASE)}; d 64, 3 layers, seed 0; each "
             "recipe stops after its time budget.", "",
             *[f"Machine: {m}" for m in machines], "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / f"gowalla_sweep_{device}.md").write_text(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--recipes", nargs="+", default=[], help="JSON objects: changes to the base")
    p.add_argument("--budget", type=float, default=75.0, help="seconds per recipe")
    p.add_argument("--report", action="store_true", help="only rewrite the table from the log")
    args = p.parse_args()
    if not args.report:
        config = RunConfig.from_flat("retrain", dataset=args.dataset)
        data = load_interactions(config.data, 0)
        graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(args.device)
        RESULTS.mkdir(exist_ok=True)
        with open(RESULTS / f"gowalla_sweep_{args.device}.log", "a") as log:
            def say(line):
                print(line, flush=True)
                log.write(line + "\n")
                log.flush()
            say(f"# machine: {machine()}")
            for spec in args.recipes:
                recipe = {**BASE, **json.loads(spec)}
                say("## " + json.dumps(recipe))
                sweep_one(recipe, data, graph, config, args.device, args.budget, say)
    report(args.device)


if __name__ == "__main__":
    main()
