"""Behaviour tests for sheettrack.provenance against real git repositories."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from sheettrack import provenance
from sheettrack.provenance import capture, strip_credentials

GIT_KEYS = ("git_commit", "git_branch", "git_dirty", "git_diff_hash", "git_remote")

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make git behave the same on every machine: fixed identity, no user or system config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its stripped stdout, failing the test on error."""
    done = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def make_repo(path: Path, *, commit: bool = True) -> Path:
    """Create a git repository on branch main, with one committed file when ``commit``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    git(path, "symbolic-ref", "HEAD", "refs/heads/main")
    (path / "train.py").write_text("print('hello')\n")
    (path / ".gitignore").write_text("*.log\n")
    if commit:
        git(path, "add", "train.py", ".gitignore")
        git(path, "commit", "-q", "-m", "first")
    return path


def git_part(info: dict[str, object]) -> dict[str, object]:
    """Return only the git_* values of a capture."""
    return {key: info[key] for key in GIT_KEYS}


# --------------------------------------------------------------------------- git


@needs_git
def test_clean_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    info = capture(cwd=str(repo))
    assert info["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert isinstance(info["git_commit"], str) and len(info["git_commit"]) == 40
    assert info["git_branch"] == "main"
    assert info["git_dirty"] is False
    assert info["git_diff_hash"] is None
    assert info["git_remote"] is None


@needs_git
def test_ignored_file_keeps_repo_clean(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "run.log").write_text("noise\n")
    assert capture(cwd=str(repo))["git_dirty"] is False


@needs_git
def test_modified_tracked_file_is_dirty_with_diff_hash(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("print('changed')\n")
    first = capture(cwd=str(repo))
    assert first["git_dirty"] is True
    diff_hash = first["git_diff_hash"]
    assert isinstance(diff_hash, str) and len(diff_hash) == 16
    int(diff_hash, 16)  # hex

    # The same edit gives the same hash; a different edit gives a different one.
    assert capture(cwd=str(repo))["git_diff_hash"] == diff_hash
    (repo / "train.py").write_text("print('changed again')\n")
    assert capture(cwd=str(repo))["git_diff_hash"] != diff_hash


@needs_git
def test_staged_change_counts_as_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("print('staged')\n")
    git(repo, "add", "train.py")
    info = capture(cwd=str(repo))
    assert info["git_dirty"] is True
    assert info["git_diff_hash"] is not None


@needs_git
def test_untracked_file_is_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "notes.md").write_text("new\n")
    info = capture(cwd=str(repo))
    assert info["git_dirty"] is True
    assert info["git_commit"] == git(repo, "rev-parse", "HEAD")


@needs_git
def test_python_bytecode_caches_do_not_make_the_tree_dirty(tmp_path: Path) -> None:
    """Running a repository's own code writes __pycache__ beside it, .gitignore or not."""
    repo = make_repo(tmp_path / "repo")
    (repo / "__pycache__").mkdir()
    (repo / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"\x00")
    (repo / "pkg" / "__pycache__").mkdir(parents=True)
    (repo / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\x00")
    (repo / "old.pyc").write_bytes(b"\x00")
    assert git(repo, "status", "--porcelain") != ""  # git itself lists them
    assert capture(cwd=str(repo))["git_dirty"] is False
    (repo / "pkg" / "m.py").write_text("X = 1\n")  # an untracked module beside its cache is a change
    assert capture(cwd=str(repo))["git_dirty"] is True


@needs_git
def test_only_the_exact_own_files_are_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An artifacts folder elsewhere that shares a name with a code folder, or a file that
    shares the workbook's name in another folder, still count."""
    monkeypatch.setattr(provenance, "_OWN", set())
    repo = make_repo(tmp_path / "repo")
    (repo / "models").mkdir()
    (repo / "models" / "net.py").write_text("W = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "model")
    provenance.own_files(repo / "results" / "runs.xlsx", tmp_path / "scratch" / "models")
    (repo / "results").mkdir()
    for name in ("runs.xlsx", ".runs.xlsx.lock", "~$runs.xlsx"):
        (repo / "results" / name).write_bytes(b"x")
    (repo / "results" / "runs-artifacts" / "patches").mkdir(parents=True)
    (repo / "results" / "runs-artifacts" / "patches" / "p.patch").write_bytes(b"x")
    assert provenance.git_info(str(repo))["git_dirty"] is False
    (repo / "models" / "net.py").write_text("W = 2\n")  # a folder named like the artifacts one
    info = provenance.git_info(str(repo))
    assert info["git_dirty"] is True and info["git_diff_hash"]
    assert b"models/net.py" in (provenance.git_patch(str(repo)) or b"")
    git(repo, "checkout", "-q", "models/net.py")
    (repo / "data").mkdir()
    (repo / "data" / "runs.xlsx").write_bytes(b"x")  # the workbook's name, another folder
    assert provenance.git_info(str(repo))["git_dirty"] is True
    (repo / "data" / "runs.xlsx").unlink()
    (repo / "results" / "notes.txt").write_text("mine\n")  # beside the workbook, not its own
    assert provenance.git_info(str(repo))["git_dirty"] is True


@needs_git
def test_capture_does_not_touch_the_index(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    index = repo / ".git" / "index"
    # Same content, new timestamp: a plain `git status` would refresh and rewrite the index.
    stamp = time.time() - 1000
    os.utime(repo / "train.py", (stamp, stamp))
    before = index.read_bytes()
    assert capture(cwd=str(repo))["git_dirty"] is False
    assert index.read_bytes() == before
    assert not (repo / ".git" / "index.lock").exists()


@needs_git
def test_detached_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("print('second')\n")
    git(repo, "commit", "-q", "-am", "second")
    git(repo, "checkout", "-q", "--detach", first)
    info = capture(cwd=str(repo))
    assert info["git_branch"] is None
    assert info["git_commit"] == first
    assert info["git_dirty"] is False


@needs_git
def test_subfolder_of_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    info = capture(cwd=str(sub))
    assert info["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert info["git_branch"] == "main"


@needs_git
def test_repo_without_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty", commit=False)
    info = capture(cwd=str(repo))
    assert info["git_commit"] is None
    assert info["git_dirty"] is True  # train.py is untracked
    assert info["git_diff_hash"] is None


@needs_git
def test_repo_without_commits_and_files_is_clean(tmp_path: Path) -> None:
    repo = tmp_path / "bare-start"
    repo.mkdir()
    git(repo, "init", "-q")
    info = capture(cwd=str(repo))
    assert info["git_commit"] is None
    assert info["git_dirty"] is False


@needs_git
def test_folder_that_is_not_a_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "data.csv").write_text("a\n1\n")
    # Make sure no repository above tmp_path is discovered.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    info = capture(cwd=str(plain))
    assert git_part(info) == dict.fromkeys(GIT_KEYS)


def test_missing_folder_gives_none_values(tmp_path: Path) -> None:
    info = capture(cwd=str(tmp_path / "does-not-exist"))
    assert git_part(info) == dict.fromkeys(GIT_KEYS)


def test_git_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin-here"))
    info = capture(cwd=str(tmp_path))
    assert git_part(info) == dict.fromkeys(GIT_KEYS)


@needs_git
def test_remote_credentials_are_stripped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://alice:hunter2@example.com/team/proj.git")
    info = capture(cwd=str(repo))
    assert info["git_remote"] == "https://example.com/team/proj.git"
    assert "hunter2" not in json.dumps(info)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:pw@host.org/a/b.git", "https://host.org/a/b.git"),
        ("https://ghp_TOKEN123@github.com/a/b.git", "https://github.com/a/b.git"),
        ("https://host.org:8443/a/b.git", "https://host.org:8443/a/b.git"),
        ("https://u:p@host.org:8443/a/b.git", "https://host.org:8443/a/b.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("ssh://git@host.org/a/b.git", "ssh://git@host.org/a/b.git"),
        ("ssh://git:secret@host.org/a/b.git", "ssh://host.org/a/b.git"),
        ("/srv/git/b.git", "/srv/git/b.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


# --------------------------------------------------------------------------- switches and secrets


@needs_git
def test_switched_off_groups_are_omitted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    everything = capture(cwd=str(repo))
    assert {"user", "host", "python", "platform", "packages", "command", "script"} <= set(
        everything
    )
    assert set(GIT_KEYS) <= set(everything)

    nothing = capture(git=False, user=False, host=False, python=False, command=False)
    assert nothing == {}

    only_git = capture(user=False, host=False, python=False, command=False, cwd=str(repo))
    assert set(only_git) == set(GIT_KEYS)

    no_git = capture(git=False)
    assert not set(GIT_KEYS) & set(no_git)


@needs_git
def test_environment_secrets_never_captured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-Value-9f8e7d6c5b4a"
    monkeypatch.setenv("SHEETTRACK_TEST_API_KEY", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("print('dirty')\n")
    info = capture(cwd=str(repo))
    dumped = json.dumps(info, default=str)
    assert secret not in dumped
    assert "SHEETTRACK_TEST_API_KEY" not in dumped
    assert "AWS_SECRET_ACCESS_KEY" not in dumped


def test_values_are_json_serialisable_and_typed() -> None:
    info = capture(git=False)
    json.dumps(info)
    assert info["python"] == ".".join(str(part) for part in sys.version_info[:3])
    assert isinstance(info["user"], str) and info["user"]
    assert isinstance(info["host"], str) and info["host"]
    assert isinstance(info["platform"], str) and info["platform"]
    assert isinstance(info["command"], str) and info["command"]


def test_user_falls_back_to_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr(provenance.getpass, "getuser", broken)
    assert capture(git=False)["user"] == "unknown"


# --------------------------------------------------------------------------- command line


def test_command_comes_from_orig_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "my train.py"
    script.write_text("")
    monkeypatch.setattr(
        sys, "orig_argv", ["python", "-u", str(script), "--lr", "0.1"], raising=False
    )
    monkeypatch.setattr(sys, "argv", [str(script), "--lr", "0.1"])
    info = capture(git=False)
    assert info["command"] == f"python -u '{script}' --lr 0.1"
    assert info["script"] == str(script.resolve())


def test_command_falls_back_to_executable_and_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "orig_argv", raising=False)
    monkeypatch.setattr(sys, "argv", ["-c", "a b"])
    info = capture(git=False)
    assert info["command"] == shlex.join([sys.executable, "-c", "a b"])
    assert info["script"] is None


@needs_git
def test_script_folder_is_used_when_no_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [str(repo / "train.py")])
    info = capture()
    assert info["script"] == str((repo / "train.py").resolve())
    assert info["git_commit"] == git(repo, "rev-parse", "HEAD")


@needs_git
def test_working_directory_is_used_for_installed_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    tool = Path(sys.prefix) / "bin" / "pytest"
    if not tool.is_file():
        pytest.skip("no console script in this environment")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", [str(tool)])
    assert capture()["git_commit"] == git(repo, "rev-parse", "HEAD")


# --------------------------------------------------------------------------- packages


ML_MODULES = ("torch", "tensorflow", "jax", "xgboost", "lightgbm", "catboost", "transformers")


def test_packages_lists_imported_numpy() -> None:
    import numpy

    packages = capture(git=False)["packages"]
    assert isinstance(packages, dict)
    assert packages["numpy"] == numpy.__version__


def test_packages_omits_modules_not_imported() -> None:
    absent = [name for name in ML_MODULES if name not in sys.modules]
    if not absent:
        pytest.skip("every candidate module is imported")
    packages = capture(git=False)["packages"]
    assert isinstance(packages, dict)
    for name in absent:
        assert name not in packages
        assert name not in sys.modules  # capture did not import it either


def test_packages_reports_sklearn_as_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("sklearn")
    fake.__version__ = "9.8.7"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sklearn", fake)
    packages = capture(git=False)["packages"]
    assert isinstance(packages, dict)
    assert packages["scikit-learn"] == "9.8.7"
    assert "sklearn" not in packages


def test_packages_skips_broken_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("half-imported")

    monkeypatch.setitem(sys.modules, "catboost", Exploding("catboost"))
    monkeypatch.setitem(sys.modules, "xgboost", None)  # type: ignore[arg-type]
    packages = capture(git=False)["packages"]
    assert isinstance(packages, dict)
    assert "xgboost" not in packages
    # catboost is skipped unless its metadata happens to be installed.
    if "catboost" in packages:
        assert isinstance(packages["catboost"], str)


def test_packages_falls_back_to_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    try:
        expected = metadata.version("pytest")
    except metadata.PackageNotFoundError:
        pytest.skip("pytest metadata not installed")
    fake = types.ModuleType("optuna")  # no __version__
    monkeypatch.setitem(sys.modules, "optuna", fake)
    monkeypatch.setitem(provenance._ML_PACKAGES, "optuna", "pytest")
    packages = capture(git=False)["packages"]
    assert isinstance(packages, dict)
    assert packages["pytest"] == expected


# --------------------------------------------------------------------------- cost


def test_import_is_light() -> None:
    code = textwrap.dedent(
        """
        import sys
        from sheettrack import provenance as module
        module.capture()
        heavy = [m for m in ("pandas", "numpy", "openpyxl") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(provenance.__file__).parent.parent)
    assert done.stdout.strip() == ""


@needs_git
def test_capture_is_fast(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("print('dirty')\n")
    capture(cwd=str(repo))  # warm caches
    start = time.perf_counter()
    capture(cwd=str(repo))
    # The target is well under 0.1 s; the bound is loose so slow CI machines do not flake.
    assert time.perf_counter() - start < 1.0


def test_installed_versions_match_importlib_metadata_without_importing_it(tmp_path) -> None:
    """dist-info folders by their names, an editable install's .egg-info by its PKG-INFO
    header: the versions importlib.metadata reports, read without importing it (13 ms a log)."""
    import subprocess
    import sys
    from importlib import metadata

    from sheettrack.environment import distributions

    (tmp_path / "demo_pkg-1.2.3.dist-info").mkdir()
    (tmp_path / "demo_pkg-1.2.3.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.2.3\n")
    (tmp_path / "Other.Tool.egg-info").mkdir()
    (tmp_path / "Other.Tool.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: Other.Tool\nVersion: 0.4\n")
    expected = {d.metadata["Name"].lower().replace("_", "-").replace(".", "-"): d.version
                for d in metadata.distributions(path=[str(tmp_path)])}
    assert distributions([str(tmp_path)]) == expected == {"demo-pkg": "1.2.3", "other-tool": "0.4"}
    code = ("import sys; from sheettrack.environment import distributions; "
            f"distributions([{str(tmp_path)!r}]); print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
