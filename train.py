"""recnas command line: `python train.py --help` (installed: `recnas-train`, `recnas train`).
Searches, or retrains a genotype with --genotype; its flags are the config's fields."""
import json
from dataclasses import fields
import logging
import sys
from pathlib import Path

from recnas.app.config import SECTIONS, RunConfig
from recnas.app.jobs import run
from recnas.models.genotype import HYPERPARAMETERS
from recnas.runtime import distributed
from recnas.runtime.cli import ArgumentParser
from recnas.runtime.errors import DataError, exit_status
from recnas.runtime.options import add_options, flatten, read_config_file
from recnas.runtime.progress import set_threads, setup_logging
from recnas.supernet.settings import STRATEGY_OPTIONS, SearchConfig
from recnas.supernet.strategies import STRATEGIES
from recnas.training.retrain import RetrainConfig

def build_parser():
    """The flags: one per config field (``app.config.SECTIONS``, each field's own help), and
    the few that choose what to run rather than how (--config, --resume, --epochs, --threads)."""
    p = ArgumentParser(description="recnas: graph neural architecture search for recommendation")
    r = p.add_argument_group("run")
    r.add_argument("--config", metavar="FILE",
                   help="settings from a TOML, YAML or JSON file with the flags' names (a run's "
                        "config.json works too); flags given beside it override it")
    add_options(r, RunConfig)
    r.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR with its config.json (other flags ignored, "
                        "except --epochs to extend it)")
    r.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: the cores this process may use, "
                        "shared out among torchrun's processes on this machine)")
    r.add_argument("--epochs", type=int, default=None,
                   help=f"0 evaluates the untrained model (default: {SearchConfig.epochs} for a "
                        f"search, {RetrainConfig.epochs} for retraining and random-search trials)")
    for section, title in SECTIONS.values():
        add_options(p.add_argument_group(title), section, skip=STRATEGY_OPTIONS)
        if section is SearchConfig:       # each strategy's own options, in a group of its own
            for strategy in STRATEGIES.values():
                if strategy.one_shot and strategy.Options is not None:
                    add_options(p.add_argument_group(f"search, {strategy.Options.__doc__}"),
                                strategy.Options)
    return p


# the flags that are not config fields: what to run, not how
COMMAND_ONLY = ("config", "resume", "epochs", "threads")
# config fields without a flag that a config file may still set (a run's config.json has them)
SETTABLE_ONLY_BY_FILE = {f.name for section, _ in SECTIONS.values() for f in fields(section)
                         if not f.metadata.get("cli", True) and f.name != "epochs"}


def config_from_args(args, given=frozenset(), parser=None):
    """The run's config from parsed flags; ``given`` names the flags the command line set, so
    that a config file (--config) and a genotype file's own width and hyper-parameters fill
    only the others."""
    if args.resume:
        path = Path(args.resume) / "config.json"
        if not path.exists():
            raise DataError(path, "no config.json: not a recnas run directory")
        config = RunConfig.from_dict(json.loads(path.read_text()))
        config.out = args.resume
        if args.epochs is not None:
            config.epochs = args.epochs
        return config
    values = dict(vars(args))
    if args.config:
        from_file = config_file_values(args.config, parser or build_parser())
        values.update({k: v for k, v in from_file.items() if k not in given})
        given = set(given) | set(from_file)
    epochs = values.pop("epochs")
    for flag in COMMAND_ONLY:
        values.pop(flag, None)
    if values["genotype"]:
        mode = "retrain"
        for name in ("dim", *HYPERPARAMETERS):
            if name not in given:
                values.pop(name)
    elif not STRATEGIES[values["strategy"]].one_shot:          # random search: its own job
        mode = "random_search"
        values.pop("strategy")
    else:
        mode = "search"
    return RunConfig.from_flat(mode, epochs=epochs, **values)


def config_file_values(path, parser):
    """The flag values a config file sets, checked and converted as the flags would be: a
    hand-written TOML / YAML / JSON file with the flags' names (``lr = 1e-3``, ``gat-heads = 2``,
    ``epochs = 10``; sections allowed), or a run's config.json (it has ``mode``), whose
    ``epochs`` is its own job's and whose ``out`` (that run's own directory) is not taken."""
    raw = read_config_file(path, flat=False)
    raw = _run_config_values(raw, path) if "mode" in raw else flatten(raw, path)
    actions = {a.dest: a for a in parser._actions}
    values = {}
    for name, value in raw.items():
        action = actions.get(name)
        if action is None and name in SETTABLE_ONLY_BY_FILE:   # e.g. select.cut_first_round
            values[name] = value
            continue
        if action is None or name in ("config", "resume", "threads", "help"):   # not settings
            raise DataError(path, f"unknown setting {name!r} (settings are the flags' names, "
                                  "see --help)")
        values[name] = _converted(value, action, path, name)
    return values


def _run_config_values(saved, path):
    """A run's config.json as flat flag values: the epochs of its own job, its strategy
    (``random`` for a random search), neither its mode nor its run directory."""
    mode = saved.pop("mode")
    saved.pop("out", None)
    own = "search" if mode == "search" else "retrain"
    epochs = saved.get(own, {}).get("epochs")
    for section in ("search", "retrain"):
        saved[section] = {k: v for k, v in saved.get(section, {}).items() if k != "epochs"}
    if mode == "random_search":
        saved["search"]["strategy"] = "random"
    values = flatten(saved, path)
    values["epochs"] = epochs
    return values


def _converted(value, action, path, name):
    """``value`` as the flag ``action`` would have parsed it; a DataError names the setting."""
    def one(v):
        if action.type is None or v is None:
            return v
        if action.type is float and isinstance(v, bool) or action.type is int and (
                isinstance(v, bool) or isinstance(v, float) and not v.is_integer()):
            raise ValueError(v)
        return action.type(v)
    try:
        if action.nargs == 0:                       # a switch (--refit): true or false
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if action.nargs == "+":
            value = [one(v) for v in (value if isinstance(value, list) else [value])]
            bad = [v for v in value if action.choices is not None and v not in action.choices]
        else:
            value = one(value)
            bad = [value] if action.choices is not None and value is not None \
                and value not in action.choices else []
    except (TypeError, ValueError):
        raise DataError(path, f"{name}: {value!r} is not a valid value") from None
    if bad:
        raise DataError(path, f"{name}: {bad[0]!r} is not one of "
                              f"{', '.join(map(str, action.choices))}")
    return value


def main(argv=None):
    parser, argv = build_parser(), sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    return exit_status(lambda: run_job(config_from_args(args, parser.given(argv), parser), args))


def run_job(config, args):
    """Run the job; launched by torchrun, as one of its processes (runtime/distributed.py)."""
    distributed.setup(config.device)
    try:
        setup_logging(logging.INFO if distributed.is_main() else logging.WARNING)
        set_threads(args.threads)
        return run(config, resume=bool(args.resume))
    finally:
        distributed.teardown()


if __name__ == "__main__":
    sys.exit(main())
