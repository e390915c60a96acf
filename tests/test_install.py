"""What `pip install` puts on a user's machine: one package, ``recnas``, and its commands. The
project is built and installed (not in editable mode) into a fresh virtual environment; in a
directory that holds the user's own data/ and train.py, ``import data`` is theirs, ``recnas``
is ours, and the console command runs on the bundled data.

The fresh environment borrows torch, numpy and tensorboard from the environment running the
tests (a .pth line, so nothing large is downloaded); pip builds the wheel with its usual build
isolation, which fetches setuptools from the package index."""
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    python = home / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "borrowed.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--disable-pip-version-check", str(ROOT)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0 and "No matching distribution" in proc.stderr + proc.stdout:
        pytest.skip("pip cannot reach a package index for setuptools here")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return home, env


@pytest.fixture
def user_project(tmp_path):
    """A user's own ML project: a data/ package and a train.py of their own."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "__init__.py").write_text("OWNER = 'user'\n")
    (tmp_path / "train.py").write_text("raise SystemExit('the user train.py ran')\n")
    return tmp_path


def run_in(cwd, env, *cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          env=env)


def test_one_namespace_beside_the_users_own_data_and_train(venv, user_project):
    home, env = venv
    proc = run_in(user_project, env, home / "bin" / "python", "-c",
                  "import data, recnas, recnas.data.interactions as i, recnas.train; "
                  "print(data.OWNER, recnas.__file__, i.__file__)")
    assert proc.returncode == 0, proc.stderr
    owner, package, module = proc.stdout.split()
    assert owner == "user"
    assert package.startswith(str(home)) and module.startswith(str(home))


def test_no_top_level_modules_of_ours(venv, tmp_path):
    home, env = venv
    for name in ("data", "ops", "runtime", "training", "evaluation", "supernet", "models", "app",
                 "train", "derive", "recommend"):
        proc = run_in(tmp_path, env, home / "bin" / "python", "-c", f"import {name}")
        assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr, name


def test_the_console_commands_run(venv, user_project):
    home, env = venv
    proc = run_in(user_project, env, home / "bin" / "recnas-train", "--epochs", "0", "--out",
                  "run", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((user_project / "run" / "results.json").read_text())
    assert results["dataset"]["name"] == "ml-100k" and results["dataset"]["users"] == 943
    for command in (["recnas-derive", "--help"], ["recnas-recommend", "--help"],
                    ["recnas", "train", "--help"]):
        proc = run_in(user_project, env, home / "bin" / command[0], *command[1:])
        assert proc.returncode == 0 and "usage:" in proc.stdout, (command, proc.stderr)
