"""Seconds per search epoch of each strategy on a quality dataset, and the search lengths that
spend as long as DARTS's default search (order 1, its default epochs and warm-up): how
benchmarks/quality.py gives its `search, evolution` and `search, REINFORCE` rows DARTS's budget
(quality.SEARCH_EPOCHS).

Each strategy runs a 2-epoch search with a 1-epoch warm-up, seed 0: its warm-up epoch and its
searching epoch are timed from the search's history. Evolution trains paths in every epoch and
then scores its population and C cycles' children with the supernet's weights: one scoring
costs (wall − epochs − DARTS's run's overhead outside its epochs) / genotypes scored. From those:
DARTS's search ≈ warm-up × w + epoch × (E − w); REINFORCE's epochs E' fill the same time with
its own warm-up; evolution keeps the cycles of its quality row and fills the rest with path
epochs."""
import argparse
import json
import shutil
from pathlib import Path
from typing import NamedTuple

from common import QUALITY_DATASETS, save_table
from quality import SEARCHES
from recnas.app.config import RunConfig, SearchConfig
from recnas.app.jobs import run

PROBE_CYCLES = 10


class Probe(NamedTuple):
    warmup: float        # seconds of the warm-up epoch
    epoch: float         # seconds of the searching epoch
    wall: float          # the whole search's seconds
    epochs: float        # both epochs' seconds
    scored: int          # genotypes scored (evolution; else 0)

    def search_seconds(self, s):
        """Seconds of a search with SearchConfig ``s``'s epochs and warm-up."""
        return self.warmup * s.warmup_epochs + self.epoch * (s.epochs - s.warmup_epochs)


def probe(strategy, dataset, out, device):
    """The Probe of a 2-epoch search with a 1-epoch warm-up."""
    run_dir = out / strategy
    shutil.rmtree(run_dir, ignore_errors=True)
    extra = dict(cycles=PROBE_CYCLES) if strategy == "evolution" else {}
    run(RunConfig.from_flat("search", epochs=2, warmup_epochs=1, strategy=strategy,
                            out=str(run_dir), dataset=dataset, seed=0, device=device, **extra))
    results = json.loads((run_dir / "results.json").read_text())
    first, both = (h["seconds"] for h in results["history"])
    scored = results["evolution"]["scored"] if strategy == "evolution" else 0
    return Probe(first, both - first, results["wall_seconds"], both, scored)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gowalla-20pct", choices=sorted(QUALITY_DATASETS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--work", default="runs/search_cost")
    args = p.parse_args()
    dataset = QUALITY_DATASETS[args.dataset]()
    out = Path(args.work) / args.dataset
    s = SearchConfig()
    probes = {name: probe(name, dataset, out, args.device)
              for name in ("darts", "gdas", "evolution", "reinforce")}
    overhead = probes["darts"].wall - probes["darts"].epochs
    darts_seconds = probes["darts"].search_seconds(s)
    rows = []
    for name, cost in probes.items():
        score = (cost.wall - cost.epochs - overhead) / cost.scored if cost.scored else None
        estimate = darts_seconds
        if name == "evolution":
            cycles = SEARCHES["search, evolution"]["cycles"]
            epochs = round((darts_seconds - (s.population + cycles) * score) / cost.epoch)
            length = f"{epochs} epochs, {cycles} cycles"
        elif name == "reinforce":
            epochs = s.warmup_epochs + round(
                (darts_seconds - cost.warmup * s.warmup_epochs) / cost.epoch)
            length = f"{epochs} epochs"
        else:
            length, estimate = f"{s.epochs} epochs (default)", cost.search_seconds(s)
        rows.append((name, f"{cost.warmup:.1f}", f"{cost.epoch:.1f}",
                     "" if score is None else f"{score:.2f}", length, f"{estimate:.0f}",
                     f"{estimate / darts_seconds:.2f}"))
    save_table(f"search_cost_{args.dataset}",
               f"Search cost per strategy on {args.dataset}, and the lengths matching DARTS's",
               ("strategy", "warm-up epoch s", "searching epoch s", "one genotype scored s",
                "search length", "search s (estimated)", "× DARTS"), rows,
               [f"A 2-epoch search per strategy (1 warm-up epoch), seed 0, one after another. "
                f"A searching epoch: DARTS's bilevel epoch (order {s.order}), GDAS's sampled "
                "one, evolution's uniform-path one, REINFORCE's path training plus "
                f"{s.controller_steps} controller steps, each scoring a sampled genotype. "
                f"Evolution scores its {s.population} first genotypes and one child per cycle "
                f"(the probe: {PROBE_CYCLES} cycles); a genotype already scored is not scored "
                "again, so its estimate is an upper bound. Data loading is not counted."])


if __name__ == "__main__":
    main()
