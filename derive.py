"""Export the architecture a search found: `python derive.py RUN_DIR`."""
import argparse
import sys

from data.errors import exit_status
from supernet.export import derive_run


def main(argv=None):
    p = argparse.ArgumentParser(description="Derive the argmax architecture of a search run "
                                            "and write it as genotype.json")
    p.add_argument("run_dir", help="a search run directory (holding checkpoint.pt)")
    p.add_argument("--out", help="genotype file (default RUN_DIR/genotype.json)")
    p.add_argument("--inputs-per-node", type=int, default=1,
                   help="incoming edges kept per node (top-k by strongest non-zero op)")
    args = p.parse_args(argv)
    return exit_status(lambda: derive_run(args.run_dir, args.out, args.inputs_per_node))


if __name__ == "__main__":
    sys.exit(main())
