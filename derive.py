"""Export the architecture a search found: `python derive.py RUN_DIR`."""
import sys

from recnas.runtime.cli import ArgumentParser
from recnas.runtime.errors import exit_status
from recnas.runtime.progress import setup_logging
from recnas.supernet.derive import METHODS, derive


def build_parser():
    p = ArgumentParser(description="Derive the architecture a search run found: write "
                                   "genotype.json and the cell as Graphviz DOT (genotype.dot, "
                                   "plus SVG/PNG when Graphviz is installed)")
    p.add_argument("run_dir", help="a search run directory (holding checkpoint.pt)")
    p.add_argument("--out", help="genotype file; the picture goes beside it "
                                 "(default: RUN_DIR/genotype.json)")
    p.add_argument("--inputs-per-node", type=int, default=1,
                   help="incoming edges kept per node, top-k by strongest non-zero op "
                        "(default: %(default)s)")
    p.add_argument("--method", choices=METHODS, default="argmax",
                   help="argmax: the strongest α; perturbation: the choices whose removal from "
                        "the trained supernet costs most validation Recall (DARTS-PT, no "
                        "fine-tuning; loads the data) (default: %(default)s)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    return exit_status(lambda: derive(args.run_dir, args.out, args.inputs_per_node,
                                      args.method))


if __name__ == "__main__":
    sys.exit(main())
