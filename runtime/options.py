"""Options declared once: a config field carries its help text (``option``), and the command
line is built from the fields (``add_options``), so a setting is named, defaulted and explained
in one place, next to the code that uses it. A field ``lr`` is the flag ``--lr``; ``gat_heads``
is ``--gat-heads``. Config files (TOML, YAML or JSON) use the same names (``read_config_file``).
"""
import dataclasses
import json
import typing
from pathlib import Path

from recnas.runtime.errors import DataError

DEFAULT_NOTE = "(default: %(default)s)"


def option(default, help, *, choices=None, metavar=None, cli=True, default_help=None):
    """A config field with its command-line help. ``default`` may be a list (copied for each
    instance); ``choices`` restricts the flag's values; ``cli=False`` keeps the field out of
    the command line (set by the program itself); ``default_help`` words the ``(default: ...)``
    note when the value alone would mislead (None: the value, as argparse shows it)."""
    meta = {"help": help, "choices": choices, "metavar": metavar, "cli": cli,
            "default_help": default_help}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(name):
    return "--" + name.replace("_", "-")


def cli_fields(section):
    """The fields of dataclass ``section`` that are command-line options."""
    return [f for f in dataclasses.fields(section) if f.metadata.get("cli", False)]


def _type_of(annotation):
    """(element type, is a list) of a field's annotation: int, Optional[float], List[str]..."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin in (list, typing.List):
        return typing.get_args(annotation)[0], True
    return annotation, False


def add_options(group, section, skip=()):
    """One flag per command-line field of dataclass ``section`` (except those of the dataclasses
    in ``skip``: its bases, shown in groups of their own), in declaration order, with the
    field's type, default, choices and help."""
    hints = typing.get_type_hints(section)
    skipped = {f.name for base in skip for f in dataclasses.fields(base)}
    for f in cli_fields(section):
        if f.name in skipped:
            continue
        kind, many = _type_of(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        meta = f.metadata
        note = DEFAULT_NOTE if meta["default_help"] is None else f"(default: {meta['default_help']})"
        kwargs = {"dest": f.name, "default": default, "help": f"{meta['help']} {note}"}
        if kind is bool:
            kwargs["action"] = "store_true"
            kwargs["help"] = meta["help"]
        else:
            kwargs["type"] = kind
            if many:
                kwargs["nargs"] = "+"
            if meta["choices"] is not None:
                kwargs["choices"] = meta["choices"]
            if meta["metavar"] is not None:
                kwargs["metavar"] = meta["metavar"]
        group.add_argument(flag_of(f.name), **kwargs)


def read_config_file(path, flat=True):
    """The settings in a TOML, YAML or JSON file, as a flat dict of field names: a run's own
    config.json (sections ``data``, ``train``, ...) or a hand-written file whose keys are the
    flags' names without dashes (``lr = 0.01``, ``gat-heads`` or ``gat_heads``), at the top or
    in sections (``flat=False``: the table as read). Raises DataError naming the file on a
    syntax error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such config file")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            try:
                import tomllib                      # Python 3.11+
            except ImportError:
                import tomli as tomllib             # Python 3.10: pip install tomli
            values = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml
            values = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise DataError(path, "a config file ends in .toml, .yaml, .yml or .json")
    except ImportError as e:
        package = {"yaml": "pyyaml"}.get(e.name, e.name)
        raise DataError(path, f"reading it needs {package} (pip install {package})") from None
    except DataError:
        raise
    except Exception as e:   # each parser has its own error class; all carry the line
        raise DataError(path, f"not valid {path.suffix[1:].upper()}: {e}") from None
    if not isinstance(values, dict):
        raise DataError(path, "the file must hold a table of settings")
    return flatten(values, path) if flat else values


def flatten(values, path):
    """{"train": {"lr": 1e-3}, "seed": 1} -> {"lr": 1e-3, "seed": 1}; a name given twice is an
    error naming it."""
    flat = {}
    for key, value in values.items():
        items = value.items() if isinstance(value, dict) else [(key, value)]
        for name, v in items:
            name = name.replace("-", "_")
            if name in flat:
                raise DataError(path, f"{name!r} is given twice")
            flat[name] = v
    return flat
