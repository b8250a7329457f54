"""Reproducing runs: real git repositories (clean, dirty, detached, none), a second virtual
environment, data files changed under a fingerprint, and a rerun in a fresh worktree.

Workbooks are read back with python-calamine (and once with LibreOffice), never only with
sheettrack's own reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import read_calamine

import sheettrack
from sheettrack import environment
from sheettrack.cli import main
from sheettrack.errors import SheettrackError

REPO_ROOT = Path(__file__).resolve().parents[1]

TRAIN = '''\
import sys
import sheettrack
import helper  # a module of the repository

book = sys.argv[1]
data = sys.argv[2:] or None
sheettrack.log(book, params={"lr": helper.LR}, metrics={"accuracy": 0.9}, data=data, on_error="raise")
'''


@pytest.fixture(autouse=True)
def _default_artifacts_folder(monkeypatch):
    """These tests use the default artifacts folder, beside the workbook."""
    monkeypatch.delenv("SHEETTRACK_ARTIFACTS", raising=False)


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(folder: Path) -> Path:
    """A git repository with a training script and a helper module, committed."""
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN)
    (folder / "helper.py").write_text("LR = 0.01\n")
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "first")
    return folder


def train(repo: Path, book: Path, *data: Path, python: str = sys.executable, env: dict | None = None,
          script: str = "train.py") -> None:
    """Run the training script as a user would, in its own process, from the repository."""
    done = subprocess.run([python, script, str(book), *map(str, data)], cwd=repo, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr


def sheet(book: Path, name: str) -> list[dict]:
    rows = read_calamine(book, name)
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def last_run(book: Path) -> dict:
    return sheet(book, "Runs")[-1]


# -- what a run row carries ------------------------------------------------------------------

@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "committed"])
def test_a_workbook_kept_in_the_repository_does_not_make_it_dirty(tmp_path, tracked):
    """The workbook, its lock, journal and artifacts folder change with every log; only the
    code does: the same runs in a repository are clean until a tracked file changes."""
    repo = make_repo(tmp_path / "repo")
    (repo / "results").mkdir()
    book = repo / "results" / "runs [v1].xlsx"
    train(repo, book)
    if tracked:
        git(repo, "add", "-f", ".")
        git(repo, "commit", "-q", "-m", "the workbook too")
    train(repo, book)
    train(repo, book)
    assert git(repo, "status", "--porcelain") != ""  # git itself sees the workbook's files
    runs = sheet(book, "Runs")
    assert [r["git_dirty"] for r in runs] == [False, False, False]
    assert [r["patch_hash"] for r in runs] == ["", "", ""]
    (repo / "helper.py").write_text("LR = 0.02\n")
    train(repo, book)
    run = last_run(book)
    assert run["git_dirty"] is True and run["patch_hash"]
    patch = (repo / "results" / "runs [v1]-artifacts" / "patches" / f"{run['patch_hash']}.patch").read_bytes()
    assert b"helper.py" in patch and b"xlsx" not in patch  # the code's change, not the workbook's



def test_a_clean_repository_run_carries_its_environment_key_and_no_patch(tmp_path):
    repo = make_repo(tmp_path / "repo")
    book = tmp_path / "runs.xlsx"
    train(repo, book)
    run = last_run(book)
    assert run["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert run["git_dirty"] is False
    assert run["patch_hash"] == ""
    assert run["workdir"] == "."
    envs = sheet(book, "Environments")
    assert [e["env_hash"] for e in envs] == [run["env_hash"]]
    installed = {line.split("==")[0] for line in envs[0]["packages"].splitlines()}
    assert {"sheettrack", "python-calamine"} <= installed
    assert envs[0]["n_packages"] == len(envs[0]["packages"].splitlines())
    assert envs[0]["first_run"] == run["run_id"]
    assert not (tmp_path / "runs-artifacts").exists()


def test_a_dirty_tree_saves_its_patch_by_hash_and_lists_untracked_imports(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "helper.py").write_text("from extra import LR\n")  # a tracked change...
    (repo / "extra.py").write_text("LR = 0.5\n")               # ...importing an untracked module
    (repo / "notes.txt").write_text("not imported\n")
    book = tmp_path / "runs.xlsx"
    train(repo, book)
    run = last_run(book)
    assert run["git_dirty"] is True and run["lr"] == 0.5
    patch = tmp_path / "runs-artifacts" / "patches" / f"{run['patch_hash']}.patch"
    expected = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, capture_output=True).stdout
    assert patch.read_bytes() == expected
    assert run["patch_hash"] == hashlib.sha256(expected).hexdigest()[:16]
    assert json.loads(run["untracked"]) == ["extra.py"]

    # the patch applies to a fresh clone of the commit and gives back the changed file
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", run["git_commit"])
    git(clone, "apply", "--binary", str(patch))
    assert (clone / "helper.py").read_text() == "from extra import LR\n"


def test_a_detached_head_and_a_subfolder_are_recorded_and_planned(tmp_path):
    repo = make_repo(tmp_path / "repo")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "helper.py").write_text("LR = 0.02\n")
    git(repo, "commit", "-qam", "second")
    git(repo, "checkout", "-q", "--detach", first)
    (repo / "sub").mkdir()
    book = tmp_path / "runs.xlsx"
    env = dict(os.environ, PYTHONPATH=str(repo))
    train(repo / "sub", book, script="../train.py", env=env)
    run = last_run(book)
    assert run["git_commit"] == first and run["git_branch"] == "" and run["workdir"] == "sub"
    plan = sheettrack.reproduce(book, run["run_id"][:10])
    steps = plan.steps()
    assert steps[0] == f"git checkout {first}"
    assert steps[1] == "cd sub"
    assert steps[2].startswith(f"SHEETTRACK_REPRODUCES={run['run_id']} ")
    assert steps[2].endswith("../train.py " + str(book))
    assert plan.mismatches == []


def test_a_run_outside_git_cannot_be_checked_out_and_says_so(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN)
    (folder / "helper.py").write_text("LR = 0.01\n")
    book = tmp_path / "runs.xlsx"
    train(folder, book)
    run = last_run(book)
    assert run["git_commit"] == "" and run["workdir"] == "" and run["env_hash"]
    plan = sheettrack.reproduce(book, run["run_id"])
    assert plan.mismatches == ["code: the run recorded no git commit (it ran outside a repository)"]
    with pytest.raises(SheettrackError, match="recorded no commit"):
        plan.run()
    result = CliRunner().invoke(main, ["reproduce", str(book), run["run_id"], "--run"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: git_commit: run {run['run_id']} recorded no commit to check out")


# -- environments ----------------------------------------------------------------------------

def test_each_environment_is_stored_once_however_many_runs_and_processes(tmp_path):
    book = tmp_path / "runs.xlsx"
    for i in range(2):
        sheettrack.log(book, params={"i": i}, metrics={"m": 1.0})
    with sheettrack.start_run(book) as run:
        run.log_metric("m", 2.0)
    subprocess.run([sys.executable, "-c", f"import sheettrack; sheettrack.log({str(book)!r}, metrics={{'m': 3.0}})"],
                   check=True, cwd=tmp_path)
    runs = sheet(book, "Runs")
    envs = sheet(book, "Environments")
    assert len(runs) == 4 and len({r["env_hash"] for r in runs}) == 1
    assert [e["env_hash"] for e in envs] == [runs[0]["env_hash"]]


def _second_venv(tmp_path: Path) -> tuple[str, dict]:
    """A real second virtual environment with one distribution this one lacks (tinypkg 1.2.3),
    able to import sheettrack and its dependencies from this environment."""
    venv = tmp_path / "venv2"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    dist = Path(site) / "tinypkg-1.2.3.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.2.3\n")
    (dist / "RECORD").write_text("")
    (Path(site) / "tinypkg.py").write_text("VALUE = 1\n")
    ours = sysconfig.get_paths()["purelib"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), ours]))
    return python, env


def test_a_run_from_another_virtualenv_lists_the_packages_to_pin(tmp_path):
    python, env = _second_venv(tmp_path)
    repo = make_repo(tmp_path / "repo")
    book = tmp_path / "runs.xlsx"
    train(repo, book, python=python, env=env)
    run = last_run(book)
    assert run["env_hash"] != environment.current().key
    recorded = environment.parse_packages(sheet(book, "Environments")[0]["packages"])
    assert recorded["tinypkg"] == "1.2.3"
    plan = sheettrack.reproduce(book, run["run_id"])
    assert plan.missing == {"tinypkg": "1.2.3"}
    assert plan.pip == "pip install 'tinypkg==1.2.3'"
    assert plan.pip in plan.steps()
    assert "packages: tinypkg 1.2.3 in the run, not installed here" in plan.mismatches

    # against an environment with another version of a recorded distribution
    here = dict(recorded, tinypkg="2.0", **{"python-calamine": "0.0.1"})
    plan = sheettrack.reproduce(book, run["run_id"], packages=here)
    assert plan.changed == {"tinypkg": ("1.2.3", "2.0"),
                            "python-calamine": (recorded["python-calamine"], "0.0.1")}
    assert plan.pip == f"pip install 'python-calamine=={recorded['python-calamine']}' 'tinypkg==1.2.3'"


# -- data ------------------------------------------------------------------------------------

def test_data_fingerprints_are_checked_against_the_files_now(tmp_path):
    repo = make_repo(tmp_path / "repo")
    files = []
    for name in ("a.csv", "b.csv", "c.csv"):
        files.append(tmp_path / name)
        files[-1].write_text("x,y\n1,2\n3,4\n")
    book = tmp_path / "runs.xlsx"
    train(repo, book, *files)
    run = last_run(book)
    data = sheet(book, "Data")
    assert len(data) == 1  # three files with the same content are one fingerprint
    assert data[0]["rows"] == 2 and data[0]["size"] == 12
    assert data[0]["hash"] == "sha256:" + hashlib.sha256(b"x,y\n1,2\n3,4\n").hexdigest()[:16]

    assert CliRunner().invoke(main, ["reproduce", str(book), run["run_id"], "--check"]).exit_code == 0
    files[1].write_text("x,y\n1,2\n3,5\n")
    files[2].unlink()
    plan = sheettrack.reproduce(book, run["run_id"])
    assert [(d.name, d.status) for d in plan.data] == [("a.csv", "match"), ("b.csv", "changed"),
                                                       ("c.csv", "missing")]
    result = CliRunner().invoke(main, ["reproduce", str(book), run["run_id"], "--check"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"data: b.csv: changed ({files[1]})",
                                          f"data: c.csv: missing ({files[2]})"]


# -- the rerun -------------------------------------------------------------------------------

def test_run_reproduces_a_dirty_run_in_a_fresh_worktree_and_links_it(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "helper.py").write_text("LR = 0.25\n")
    book = tmp_path / "runs.xlsx"
    train(repo, book)
    original = last_run(book)
    # the checkout moves on meanwhile: another commit, another uncommitted change
    git(repo, "commit", "-qam", "lr 0.25")
    (repo / "helper.py").write_text("LR = 0.75\n")
    head, status = git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")

    result = subprocess.run([sys.executable, "-m", "sheettrack", "reproduce", str(book), original["run_id"], "--run"],
                            cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "git apply --binary" in result.stdout
    new = last_run(book)
    assert result.stdout.splitlines()[-1] == f"logged run {new['run_id']} reproducing {original['run_id']}"
    assert new["reproduces"] == original["run_id"] and new["run_id"] != original["run_id"]
    assert new["lr"] == 0.25  # the patched code ran, not the checkout's
    assert new["git_commit"] == original["git_commit"] and new["patch_hash"] == original["patch_hash"]
    # the current checkout was never touched, and the temporary worktree is gone
    assert (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")) == (head, status)
    assert (repo / "helper.py").read_text() == "LR = 0.75\n"
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_reference_sheets_open_in_libreoffice(tmp_path, libreoffice):
    book = tmp_path / "runs.xlsx"
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    sheettrack.log(book, metrics={"m": 1.0}, data=data)
    sheettrack.register_model(book, sheettrack.load(book)["run_id"][0], name="clf", aliases="production")
    sheets = libreoffice.csv(book)
    assert sheets["Environments"][1][0] == sheet(book, "Environments")[0]["env_hash"]
    assert sheets["Data"][1][:3] == [sheet(book, "Data")[0]["hash"], "d.csv", "file"]
    assert sheets["Models"][1][:3] == ["clf", "1", "production"]
    assert sheets["Runs"][0][0] == "run_id"


def test_a_queued_row_brings_its_environment_when_it_is_delivered(tmp_path, monkeypatch):
    book = tmp_path / "runs.xlsx"
    sheettrack.log(book, metrics={"m": 1.0})
    monkeypatch.setenv("SHEETTRACK_MODE", "offline")
    python, env = _second_venv(tmp_path)
    env["SHEETTRACK_MODE"] = "offline"
    env["SHEETTRACK_OUTBOX_DIR"] = os.environ["SHEETTRACK_OUTBOX_DIR"]
    subprocess.run([python, "-c", f"import sheettrack; sheettrack.log({str(book)!r}, metrics={{'m': 2.0}})"],
                   check=True, env=env, capture_output=True)
    assert len(sheet(book, "Environments")) == 1 and len(sheet(book, "Runs")) == 1
    monkeypatch.delenv("SHEETTRACK_MODE")
    assert CliRunner().invoke(main, ["sync", str(book)]).exit_code == 0
    runs, envs = sheet(book, "Runs"), sheet(book, "Environments")
    assert len(runs) == 2
    assert sorted(e["env_hash"] for e in envs) == sorted(r["env_hash"] for r in runs)


def test_a_distribution_list_longer_than_a_cell_continues_in_more_cells(tmp_path, monkeypatch):
    big = environment.Environment("3.11.7", "Linux-x86_64",
                                  {f"package-with-a-long-name-{i:04d}": f"1.{i}.0" for i in range(1500)})
    monkeypatch.setattr(environment, "_current", big)
    book = tmp_path / "runs.xlsx"
    run_id = sheettrack.log(book, metrics={"m": 1.0})
    row = sheet(book, "Environments")[0]
    assert row["env_hash"] == big.key and row["n_packages"] == 1500
    cells = [row["packages"], row["packages_2"]]
    assert all(0 < len(c) <= 30_000 for c in cells)
    assert "\n".join(cells) == big.packages_text()
    plan = sheettrack.reproduce(book, run_id, packages=dict(big.packages))
    assert (plan.changed, plan.missing, plan.extra) == ({}, {}, {})
    plan = sheettrack.reproduce(book, run_id, packages={})
    assert len(plan.missing) == 1500 and plan.missing["package-with-a-long-name-1499"] == "1.1499.0"


def test_a_rerun_that_logs_elsewhere_is_reported(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "relative.py").write_text("import sheettrack\nsheettrack.log('runs.xlsx', metrics={'m': 1.0})\n")
    git(repo, "add", "relative.py")
    git(repo, "commit", "-qm", "logs to a relative path")
    train(repo, tmp_path / "ignored.xlsx", script="relative.py")
    book = repo / "runs.xlsx"  # where the script logged, relative to the folder it ran in
    run = last_run(book)
    result = subprocess.run([sys.executable, "-m", "sheettrack", "reproduce", str(book), run["run_id"], "--run"],
                            cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0
    assert "logged no run to" in result.stderr and "SHEETTRACK_TARGET" in result.stderr
    assert len(sheet(book, "Runs")) == 1


def test_ignored_packages_and_many_untracked_imports_never_flood_the_row(tmp_path):
    """A virtualenv inside the repository (ignored, or not: its site-packages are the
    environment's, not the run's code) is not listed, and a long list is cut short."""
    repo = make_repo(tmp_path / "repo")
    (repo / ".gitignore").write_text(".venv/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore the venv")
    for folder in (".venv/lib/site-packages", "vendored/site-packages"):
        (repo / folder).mkdir(parents=True)
    (repo / ".venv/lib/site-packages/pkg_ignored.py").write_text("X = 1\n")
    (repo / "vendored/site-packages/pkg_vendored.py").write_text("X = 1\n")
    (repo / "many").mkdir()
    for i in range(80):
        (repo / "many" / f"m{i:02d}.py").write_text("X = 1\n")
    imports = "".join(f"import many.m{i:02d}\n" for i in range(80))
    (repo / "helper.py").write_text(
        "import sys\nsys.path[:0] = ['.venv/lib/site-packages', 'vendored/site-packages']\n"
        "import pkg_ignored, pkg_vendored\n" + imports + "LR = 0.01\n")
    book = tmp_path / "runs.xlsx"
    train(repo, book)
    listed = json.loads(last_run(book)["untracked"])
    assert not any("site-packages" in name for name in listed)
    assert len(listed) == 51 and listed[-1] == "... and 30 more"
    assert listed[0] == "many/m00.py"


def test_untracked_files_outside_the_code_do_not_block_a_rerun_and_are_named(tmp_path):
    """Reports exported into the repository make git call the tree dirty, but no tracked file
    differs: the commit alone is the code, so --run goes ahead and names what it leaves out."""
    repo = make_repo(tmp_path / "repo")
    (repo / "report.html").write_text("<p>exported</p>")
    book = tmp_path / "runs.xlsx"
    train(repo, book)
    original = last_run(book)
    assert original["git_dirty"] is True and original["patch_hash"] == ""
    plan = sheettrack.reproduce(book, original["run_id"])
    assert plan.mismatches == [] and not plan.tracked_changes
    assert "untracked files outside the code" in plan.text()

    result = subprocess.run([sys.executable, "-m", "sheettrack", "reproduce", str(book), original["run_id"], "--run"],
                            cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "report.html" in warning
    assert last_run(book)["reproduces"] == original["run_id"]


def test_each_mismatch_is_printed_with_what_differs(tmp_path):
    book = tmp_path / "runs.xlsx"
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    sheettrack.log(book, params={"lr": 0.1}, data=str(data))
    data.write_text("a\n2\n")
    run_id = sheettrack.load(book)["run_id"].iloc[0]
    result = CliRunner().invoke(main, ["reproduce", str(book), run_id[-6:]])
    assert result.exit_code == 0, result.output
    tail = result.stdout.splitlines()
    at = next(i for i, line in enumerate(tail) if re.fullmatch(r"\d+ mismatch(es)?:", line))
    listed = tail[at + 1:]
    assert len(listed) == int(tail[at].split()[0]) >= 1
    assert any("data.csv" in line and "changed" in line for line in listed)
