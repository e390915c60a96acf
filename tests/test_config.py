"""Each option declared once: the command line is the config's fields, one flag each, and a run
started from a config file (--config) is the same run as from flags."""
import dataclasses
import json

import pytest

import recnas.train as train
from recnas.app.config import SECTIONS, RunConfig
from recnas.app.jobs import run
from recnas.runtime.errors import DataError
from recnas.runtime.options import cli_fields, flag_of

from helpers import small_dataset


def config_of(argv):
    parser = train.build_parser()
    return train.config_from_args(parser.parse_args(argv), parser.given(argv), parser)


def declared():
    """(section, field) of every command-line field of the config."""
    sections = [("run", RunConfig)] + [(name, cls) for name, (cls, _) in SECTIONS.items()]
    return [(name, f) for name, cls in sections for f in cli_fields(cls)]


def test_the_parser_is_the_config():
    parser = train.build_parser()
    actions = [a for a in parser._actions if a.dest != "help"]
    dests = [a.dest for a in actions]
    assert len(dests) == len(set(dests)), "a flag declared twice"
    fields = [f.name for _, f in declared()]
    assert len(fields) == len(set(fields)), "two sections declare the same option"
    assert set(dests) == set(fields) | set(train.COMMAND_ONLY)
    by_dest = {a.dest: a for a in actions}
    for _, f in declared():
        action = by_dest[f.name]
        assert action.option_strings == [flag_of(f.name)]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        assert action.default == default, f.name               # the default, stated once
        assert f.metadata["help"] in action.help


def test_defaults_from_flags_are_the_dataclasses():
    config = config_of([])
    assert config.to_dict() == RunConfig().to_dict()


SETTINGS = {"lr": 0.01, "l2": 1e-3, "dim": 16, "gat_heads": 2, "loss": "ccl", "margin": 0.3,
            "nodes": 2, "ops": ["lightgcn", "skip"], "strategy": "gdas", "warmup_epochs": 1,
            "topk": [10, 20], "then_select": True, "seed": 3}
FLAGS = ["--lr", "0.01", "--l2", "1e-3", "--dim", "16", "--gat-heads", "2", "--loss", "ccl",
         "--margin", "0.3", "--nodes", "2", "--ops", "lightgcn", "skip", "--strategy", "gdas",
         "--warmup-epochs", "1", "--topk", "10", "20", "--then-select", "--seed", "3",
         "--epochs", "4"]


def write(path, kind):
    if kind == "toml":
        lines = []
        for name, value in {**SETTINGS, "epochs": 4}.items():
            value = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
            lines.append(f"{name.replace('_', '-')} = {value}")
        path.write_text("\n".join(lines) + "\n")
    elif kind == "yaml":
        import yaml
        # sections are allowed; YAML's 1e-3 without a dot is a string: converted as the flag is
        path.write_text(yaml.safe_dump({"train": {k: SETTINGS[k] for k in ("lr", "dim")},
                                        **{k: v for k, v in SETTINGS.items()
                                           if k not in ("lr", "dim", "l2")},
                                        "l2": "1e-3", "epochs": 4}))
    else:
        path.write_text(json.dumps({**SETTINGS, "epochs": 4}))
    return path


@pytest.mark.parametrize("kind", ["toml", "yaml", "json"])
def test_a_config_file_equals_the_flags(tmp_path, kind):
    path = write(tmp_path / f"settings.{kind}", kind)
    assert config_of(["--config", str(path)]).to_dict() == config_of(FLAGS).to_dict()


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path / "settings.toml", "toml")
    config = config_of(["--config", str(path), "--lr", "0.5", "--epochs", "7"])
    assert config.train.lr == 0.5 and config.search.epochs == 7 and config.train.dim == 16


def test_a_runs_config_json_is_a_config_file(tmp_path):
    """Every run's config.json passed back gives the same config (but a run directory of its
    own), for a search, a retraining and a random search."""
    for argv in (FLAGS, ["--genotype", "gcn", "--patience", "3", "--epochs", "9", "--lr", "0.02"],
                 ["--strategy", "random", "--trials", "2", "--epochs", "3", "--nodes", "2"]):
        original = config_of(argv + ["--out", str(tmp_path / "a")])
        path = tmp_path / "config.json"
        path.write_text(json.dumps(original.to_dict()))
        again = config_of(["--config", str(path), "--out", str(tmp_path / "a")])
        assert again.to_dict() == original.to_dict(), argv
        assert config_of(["--config", str(path)]).out is None


@pytest.mark.parametrize("text, problem", [
    ("lr = 0.01\nlearning-rate = 3\n", "unknown setting 'learning_rate'"),
    ("lr = 'fast'\n", "lr: 'fast' is not a valid value"),
    ("loss = 'hinge'\n", "loss: 'hinge' is not one of"),
    ("refit = 1\n", "refit: 1 is not a valid value"),
    ("lr = \n", "not valid TOML"),
])
def test_a_bad_config_file_is_one_message_naming_it(tmp_path, text, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        config_of(["--config", str(path)])
    assert str(path) in str(error.value) and problem in str(error.value)


def test_a_run_from_a_config_file_equals_the_run_from_flags(tmp_path):
    data = small_dataset(tmp_path / "inter.txt")
    flags = ["--dataset", str(data), "--epochs", "2", "--warmup-epochs", "1", "--nodes", "2",
             "--dim", "8", "--batch-size", "32", "--gat-heads", "2", "--device", "cpu"]
    (tmp_path / "run.toml").write_text(
        f"dataset = '{data}'\nepochs = 2\nwarmup-epochs = 1\nnodes = 2\ndim = 8\n"
        "batch-size = 32\ngat-heads = 2\ndevice = 'cpu'\n")
    from_flags = run(config_of(flags + ["--out", str(tmp_path / "flags")]))
    from_file = run(config_of(["--config", str(tmp_path / "run.toml"),
                               "--out", str(tmp_path / "file")]))
    for key in ("val", "test", "alpha", "genotype"):
        assert from_file[key] == from_flags[key], key
