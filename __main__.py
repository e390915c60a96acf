"""`recnas COMMAND ...` (or `python -m recnas COMMAND ...`): one entry for the three command
lines, `recnas train`, `recnas derive` and `recnas recommend`."""
import sys

COMMANDS = {"train": "search or retrain (recnas-train, train.py)",
            "derive": "export a search's architecture (recnas-derive, derive.py)",
            "recommend": "top-K items per user from a model (recnas-recommend, recommend.py)"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        usage = "\n".join(f"  {name:<10} {what}" for name, what in COMMANDS.items())
        print(f"usage: recnas COMMAND [options]  (recnas COMMAND --help)\n\ncommands:\n{usage}",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, rest = argv[0], argv[1:]
    sys.argv[0] = f"recnas {command}"      # the name --help and errors show
    if command == "train":
        from recnas.train import main as run
    elif command == "derive":
        from recnas.derive import main as run
    else:
        from recnas.recommend import main as run
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
