"""Record where a run came from: code version, user, machine, interpreter and command line.

``capture()`` returns one flat dict whose values fit in sheet cells.  It never reads
environment variables (so no token or password can end up in a sheet), never imports a
package that is not already loaded, and never raises because git is missing or the folder
is not a repository: those values are simply ``None``.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import platform
import shlex
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

from .files import stamp

GIT_TIMEOUT = 5.0
"""Seconds any single git command may take before its value is given up as ``None``."""

# Imported module name -> name reported in ``packages`` (the distribution name).
_ML_PACKAGES: dict[str, str] = {
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "jax": "jax",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "transformers": "transformers",
    "lightning": "lightning",
    "pytorch_lightning": "pytorch-lightning",
    "optuna": "optuna",
    "statsmodels": "statsmodels",
}

_VERSIONS: dict[str, str | None] = {}  # distribution -> version from its metadata

_GIT_KEYS = ("git_commit", "git_branch", "git_dirty", "git_diff_hash", "git_remote")


def capture(
    *,
    git: bool = True,
    user: bool = True,
    host: bool = True,
    python: bool = True,
    command: bool = True,
    cwd: str | None = None,
) -> dict[str, object]:
    """Return the provenance of the current run as a flat dict, so every run row says how it was made."""
    info: dict[str, object] = {}
    if user:
        info["user"] = _user()
    if host:
        info["host"] = _host()
    if python:
        info["python"] = platform.python_version()
        info["platform"] = _platform()
        info["packages"] = loaded_packages()
    script = _script()
    if command:
        info["command"] = _command_line()
        info["script"] = script
    if git:
        info.update(git_info(cwd if cwd is not None else _default_git_dir(script)))
    return info


def _default_git_dir(script: str | None) -> str:
    """Return the script's folder, or the working directory when there is no script or it is an installed tool."""
    if script:
        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)}
        real = os.path.realpath(script)
        # Console entry points (pytest, torchrun, ipykernel...) live in the environment, not the project.
        if not any(real.startswith(prefix + os.sep) for prefix in prefixes):
            return os.path.dirname(script)
    return os.getcwd()


def _user() -> str:
    """Return the login name, or "unknown" when the system cannot tell (e.g. no passwd entry)."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:
        return "unknown"


def _host() -> str:
    """Return the machine's host name, or "unknown" when it cannot be read."""
    try:
        return socket.gethostname() or "unknown"
    except Exception:
        return "unknown"


def _platform() -> str:
    """Return a short "System-release-machine" string without the slow libc probe of platform.platform()."""
    parts = [platform.system(), platform.release(), platform.machine()]
    return "-".join(part for part in parts if part) or sys.platform


def loaded_packages() -> dict[str, str]:
    """Return name -> version of the ML packages already imported, without importing anything new."""
    found: dict[str, str] = {}
    for module_name, dist_name in _ML_PACKAGES.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        version = _module_version(module, dist_name)
        if version:
            found[dist_name] = version
    return found


def _module_version(module: object, dist_name: str) -> str | None:
    """Return a loaded module's version from ``__version__`` or its installed metadata, else None."""
    try:
        version = getattr(module, "__version__", None)
        if isinstance(version, str) and version:
            return version
        if version is not None and not callable(version):
            text = str(version)
            if text:
                return text
    except Exception:
        pass
    if dist_name not in _VERSIONS:  # installed metadata does not change within a process
        try:
            from importlib import metadata

            _VERSIONS[dist_name] = metadata.version(dist_name)
        except Exception:
            _VERSIONS[dist_name] = None
    return _VERSIONS[dist_name]


def _command_line() -> str:
    """Return the full command line as one shell-quoted string that can be pasted back into a shell."""
    argv = getattr(sys, "orig_argv", None)
    if not argv:
        argv = [sys.executable, *sys.argv]
    try:
        return shlex.join(str(arg) for arg in argv)
    except Exception:
        return " ".join(str(arg) for arg in argv)


def _script() -> str | None:
    """Return the absolute path of the running script, or None for ``python -c`` and the interactive prompt."""
    try:
        first = sys.argv[0] if sys.argv else ""
        if first and os.path.isfile(first):
            return os.path.abspath(first)
    except Exception:
        pass
    return None


def _git_env() -> dict[str, str]:
    """Return the environment for git child processes: never take the index lock, never prompt."""
    env = dict(os.environ)
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def _start_git(args: list[str], cwd: str, env: dict[str, str]) -> subprocess.Popen[bytes] | None:
    """Start one git command in the background, or return None when git cannot be started."""
    try:
        return subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, ValueError):
        return None


def _wait_git(proc: subprocess.Popen[bytes] | None, timeout: float = GIT_TIMEOUT) -> tuple[int, bytes] | None:
    """Wait for a started git command: (exit code, stdout bytes), or None when it could not
    start, failed to answer, or ran past ``timeout`` (it is killed then)."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    except OSError:
        return None
    return proc.returncode, out


def _finish_git(proc: subprocess.Popen[bytes] | None) -> tuple[int, str] | None:
    """Wait for a started git command and return (exit code, stripped stdout), or None on failure."""
    done = _wait_git(proc)
    return None if done is None else (done[0], done[1].decode("utf-8", "replace").strip())


def _hash_git_output(args: list[str], cwd: str, env: dict[str, str]) -> str | None:
    """Stream a git command's stdout into sha256 and return the first 16 hex chars, or None on failure."""
    proc = _start_git(args, cwd, env)
    if proc is None or proc.stdout is None:
        return None
    stdout = proc.stdout
    timer = threading.Timer(GIT_TIMEOUT, proc.kill)
    timer.start()
    digest = hashlib.sha256()
    try:
        while chunk := stdout.read(1 << 20):
            digest.update(chunk)
        code = proc.wait()
    except OSError:
        proc.kill()
        proc.wait()
        return None
    finally:
        timer.cancel()
        stdout.close()
    if code != 0:
        # Non-zero also covers a kill by the timer (negative code).
        return None
    return digest.hexdigest()[:16]


# the whole work tree, but for Python's bytecode caches, which running the code writes beside
# it (a repository without a .gitignore for them stays clean after its own script ran)
_STATUS_PATHS = (":(top)", ":(top,exclude,glob)**/__pycache__/**", ":(top,exclude,glob)**/*.py[co]")
_DIFF = ("diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--no-textconv")
_OWN: set[str] = set()  # real paths of files and folders sheettrack itself writes


def own_files(path: str | os.PathLike | None = None, folder: str | os.PathLike | None = None) -> None:
    """Leave workbook ``path`` and sheettrack's files beside it (its lock, journal and copy,
    its artifacts folder, the owner files Excel and LibreOffice keep while it is open), and an
    artifacts ``folder`` set elsewhere, out of ``git_dirty``, the diff hash and the saved
    patch. Only those exact paths: a workbook kept in the repository changes with every
    log, and counting it would make every run after the first look dirty."""
    if path is not None:
        where, name = os.path.split(os.path.realpath(os.fspath(path)))
        stem = os.path.splitext(name)[0]
        _OWN.update(os.path.join(where, n) for n in (
            name, f".{name}.lock", f".{name}.journal", f".{name}.tmp", f"{stem}-artifacts",
            f"~${name}", f".~lock.{name}#"))
    if folder is not None:
        _OWN.add(os.path.realpath(os.fspath(folder)))


def _own_inside(top: str | None) -> list[str]:
    """The registered paths inside work tree ``top``, relative to it ('/'-separated)."""
    if not top or not _OWN:
        return []
    real_top = os.path.realpath(top)
    out = []
    for path in sorted(_OWN):
        rel = os.path.relpath(path, real_top)
        if rel == os.curdir:  # artifacts kept at the top of the repository: its patches folder
            rel = "patches"
        if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
            continue
        out.append(rel.replace(os.sep, "/"))
    return out


def _pathspecs(top: str | None) -> list[str]:
    """What git status and diff look at: the whole work tree but bytecode caches and
    sheettrack's own files inside it."""
    return [*_STATUS_PATHS, *(f":(top,exclude,literal){rel}" for rel in _own_inside(top))]


def _is_own(path: str) -> bool:
    """Whether ``path`` is one of sheettrack's own files or inside one of its folders."""
    real = os.path.normpath(path)  # under git's top, which is a real path already
    return any(real == own or real.startswith(own + os.sep) for own in _OWN)


def _dirty(status: str, top: str | None, cwd: str, env: dict[str, str]) -> bool:
    """Whether ``git status --porcelain -z`` output lists a change. An untracked folder
    that git shows as one entry is looked into when it holds sheettrack's own files, so
    that a folder holding only them is no change."""
    own = _own_inside(top)
    for entry in status.split("\0"):
        if not entry.strip():
            continue
        path = entry[3:]
        if not (entry.startswith("?? ") and path.endswith("/")):
            return True
        if not any(rel.startswith(path) for rel in own):
            return True
        inside = _finish_git(_start_git(["status", "--porcelain", "-z", "--untracked-files=all", "--",
                                         f":(top,literal){path}", *_pathspecs(top)[1:]], cwd, env))
        if inside is None or inside[0] != 0 or inside[1].strip("\0").strip():
            return True
    return False


def git_info(cwd: str, top: str | None = None) -> dict[str, object]:
    """Return the git_* provenance values of the repository containing ``cwd``; all None outside one.
    ``top``, the work tree's top folder, saves asking git for it when the caller knows it."""
    info: dict[str, object] = dict.fromkeys(_GIT_KEYS)
    env = _git_env()
    # The independent queries run concurrently so the whole capture costs about one git call.
    if top is None and _OWN:  # where sheettrack's own files are, relative to it
        top = git_root(cwd)
    procs = {
        "status": _start_git(["status", "--porcelain", "-z", "--untracked-files=normal", "--",
                              *_pathspecs(top)], cwd, env),
        "commit": _start_git(["rev-parse", "--verify", "-q", "HEAD"], cwd, env),
        "branch": _start_git(["symbolic-ref", "-q", "--short", "HEAD"], cwd, env),
        "remote": _start_git(["config", "--get", "remote.origin.url"], cwd, env),
    }
    results = {key: _finish_git(proc) for key, proc in procs.items()}

    status = results["status"]
    if status is None or status[0] != 0:
        # git is missing, timed out, or cwd is not inside a work tree.
        return info

    commit = results["commit"]
    if commit is not None and commit[0] == 0 and commit[1]:
        info["git_commit"] = commit[1]
    branch = results["branch"]
    if branch is not None and branch[0] == 0 and branch[1]:
        info["git_branch"] = branch[1]
    remote = results["remote"]
    if remote is not None and remote[0] == 0 and remote[1]:
        info["git_remote"] = strip_credentials(remote[1])

    dirty = _dirty(status[1], top, cwd, env)
    info["git_dirty"] = dirty
    if dirty and info["git_commit"] is not None:
        info["git_diff_hash"] = _hash_git_output(
            [*_DIFF, "--", *_pathspecs(top)],
            cwd,
            env,
        )
    return info


def strip_credentials(url: str) -> str:
    """Remove a user:password@ (or token@) part from a remote URL so no secret reaches the sheet."""
    if "://" not in url:
        # scp-like "git@host:org/repo.git": the part before @ is an ssh login, not a secret.
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    userinfo, sep, hostport = parts.netloc.rpartition("@")
    if not sep:
        return url
    keep_user = parts.scheme in ("ssh", "git+ssh", "ssh+git") and ":" not in userinfo
    netloc = f"{userinfo}@{hostport}" if keep_user else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


GIT_RECHECK_S = 10.0
"""Seconds a cached git answer is trusted for changes its signature cannot see (new untracked files)."""

# cwd -> (layout, signature, monotonic time of capture, git values)
_GIT_CACHE: dict[tuple[str, frozenset], tuple[tuple | None, tuple | None, float, dict[str, object]]] = {}


def capture_cached(*, git: bool = True, user: bool = True, host: bool = True, python: bool = True,
                   command: bool = True, cwd: str | None = None) -> dict[str, object]:
    """``capture()`` for a process that logs many runs: git is asked again only when it may answer differently.

    Git values are reused while HEAD, the branch ref, the index and every tracked file's stat
    (mtime, size, inode) are unchanged and the last answer is under ``GIT_RECHECK_S`` old, so a
    commit, a checkout, staging or an edit to a tracked file shows in the very next row; only a
    new untracked file may take up to ``GIT_RECHECK_S`` to show. Everything else is cheap and
    captured every time.
    """
    info = capture(git=False, user=user, host=host, python=python, command=command)
    if git:
        info.update(cached_git_info(cwd if cwd is not None else _default_git_dir(_script())))
    return info


def cached_git_info(cwd: str) -> dict[str, object]:
    """``git_info(cwd)``, reused while the repository's signature is unchanged (see ``capture_cached``)."""
    key = (os.path.realpath(cwd), frozenset(_OWN))
    now = time.monotonic()
    entry = _GIT_CACHE.get(key)
    if entry is not None:
        layout, signature, when, info = entry
        if now - when < GIT_RECHECK_S and (layout is None or _git_signature(layout) == signature):
            return dict(info)
    layout = _shared_layout(cwd)
    signature = _git_signature(layout) if layout is not None else None
    info = git_info(cwd, layout[3] if layout is not None else None)
    _GIT_CACHE[key] = (layout, signature, now, info)
    return dict(info)


def _git_layout(cwd: str) -> tuple | None:
    """(git dir, common dir, tracked file paths, work tree top) of the repository holding
    ``cwd``, or None."""
    env = _git_env()
    where = _finish_git(_start_git(["rev-parse", "--path-format=absolute", "--git-dir",
                                    "--git-common-dir", "--show-toplevel"], cwd, env))
    if where is None or where[0] != 0 or len(where[1].splitlines()) != 3:
        return None
    git_dir, common_dir, top = where[1].splitlines()
    listed = _wait_git(_start_git(["ls-files", "-z", "--full-name"], top, env))
    if listed is None or listed[0] != 0:
        return None
    files = tuple(os.path.join(top, name) for name in listed[1].decode("utf-8", "replace").split("\0")
                  if name and not (_OWN and _is_own(os.path.join(top, name))))
    return git_dir, common_dir, files, top


# cwd -> (monotonic time, the index's stat, layout): the git and the reproducibility caches
# both need the layout when they are filled; one log asks git for it once
_LAYOUT_CACHE: dict[tuple[str, frozenset], tuple[float, tuple | None, tuple | None]] = {}


def _shared_layout(cwd: str) -> tuple | None:
    """``_git_layout(cwd)``, reused while the index is unchanged (the tracked files are the
    index's) and the answer is under ``GIT_RECHECK_S`` old."""
    key = (os.path.realpath(cwd), frozenset(_OWN))
    now = time.monotonic()
    entry = _LAYOUT_CACHE.get(key)
    if entry is not None:
        when, index, layout = entry
        if now - when < GIT_RECHECK_S and (layout is None or stamp(os.path.join(layout[0], "index")) == index):
            return layout
    layout = _git_layout(cwd)
    index = stamp(os.path.join(layout[0], "index")) if layout is not None else None
    _LAYOUT_CACHE[key] = (now, index, layout)
    return layout


def _git_signature(layout: tuple) -> tuple:
    """What changes when a git answer may change: HEAD, refs, the index, every tracked file's stat."""
    git_dir, common_dir, files, _ = layout
    try:
        with open(os.path.join(git_dir, "HEAD"), "rb") as fh:
            head = fh.read()
    except OSError:
        head = b""
    ref = head[5:].strip().decode("utf-8", "replace") if head.startswith(b"ref: ") else ""
    return (head, stamp(os.path.join(git_dir, "index")),
            stamp(os.path.join(common_dir, "packed-refs")),
            stamp(os.path.join(common_dir, ref)) if ref else None,
            tuple(stamp(f) for f in files))



# -- what reproducing a run needs (the patch of a dirty tree, untracked imports, the folder) -----

def git_root(cwd: str) -> str | None:
    """The top folder of the git work tree containing ``cwd``, or None outside one."""
    result = _finish_git(_start_git(["rev-parse", "--show-toplevel"], cwd, _git_env()))
    if result is None or result[0] != 0 or not result[1]:
        return None
    return result[1]


def git_patch(cwd: str) -> bytes | None:
    """The uncommitted changes of tracked files as a binary patch ``git apply`` takes (None when clean
    or outside a repository)."""
    env = _git_env()
    done = _wait_git(_start_git([*_DIFF, "--", *_pathspecs(git_root(cwd) if _OWN else None)], cwd, env),
                     GIT_TIMEOUT * 4)
    if done is None or done[0] != 0 or not done[1]:
        return None
    return done[1]


def patch_hash(patch: bytes) -> str:
    """The name a patch is stored under: the first 16 hex characters of its sha256."""
    return hashlib.sha256(patch).hexdigest()[:16]


MAX_UNTRACKED = 50


def reproducibility(cwd: str, root: str | None = None) -> dict[str, object]:
    """``workdir``, the dirty tree's ``patch`` bytes and the ``untracked`` imported files in one
    pass: the work tree's top is found once and the diff and the listing run concurrently."""
    out: dict[str, object] = {"workdir": None, "patch": None, "untracked": []}
    root = root or git_root(cwd)
    if root is None:
        return out
    real_root = os.path.realpath(root)
    out["workdir"] = os.path.relpath(os.path.realpath(cwd), real_root).replace(os.sep, "/")
    env = _git_env()
    files = set()
    # installed packages are an environment's, not the run's code, even when the virtualenv
    # sits inside the repository
    installed = {os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith(".py"):
            real = os.path.realpath(file)
            if (real.startswith(real_root + os.sep) and not real.startswith(tuple(installed))
                    and "site-packages" not in real.split(os.sep)):
                files.add(os.path.relpath(real, real_root))
    script = _script()
    if script and os.path.realpath(script).startswith(real_root + os.sep):
        files.add(os.path.relpath(os.path.realpath(script), real_root))
    diff = _start_git([*_DIFF, "--", *_pathspecs(root)], root, env)
    listing = (_start_git(["ls-files", "--others", "--exclude-standard", "--", *sorted(files)], root, env)
               if files else None)
    patched = _wait_git(diff, GIT_TIMEOUT * 4)
    if patched is not None and patched[0] == 0 and patched[1]:
        out["patch"] = patched[1]
    listed = _finish_git(listing)
    if listed is not None and listed[0] == 0:
        names = sorted(line for line in listed[1].splitlines() if line)
        if len(names) > MAX_UNTRACKED:  # a list, not a dump: the row must always fit its cell
            names = names[:MAX_UNTRACKED] + [f"... and {len(names) - MAX_UNTRACKED} more"]
        out["untracked"] = names
    return out



_REPRO_CACHE: dict[tuple[str, frozenset], tuple] = {}


def cached_reproducibility(cwd: str) -> dict[str, object]:
    """``reproducibility(cwd)`` for a process that logs many runs: asked again only when git's
    signature (see ``capture_cached``) or the set of imported modules changed, or the last
    answer is ``GIT_RECHECK_S`` old."""
    key = (os.path.realpath(cwd), frozenset(_OWN))
    now = time.monotonic()
    modules = len(sys.modules)
    entry = _REPRO_CACHE.get(key)
    if entry is not None:
        layout, signature, when, seen, info = entry
        if (now - when < GIT_RECHECK_S and seen == modules
                and (layout is None or _git_signature(layout) == signature)):
            return dict(info)
    layout = _shared_layout(cwd)
    signature = _git_signature(layout) if layout is not None else None
    info = reproducibility(cwd, layout[3] if layout is not None else None)
    _REPRO_CACHE[key] = (layout, signature, now, modules, info)
    return dict(info)


__all__ = ["capture", "capture_cached", "cached_git_info", "cached_reproducibility", "git_info", "git_patch",
           "git_root", "loaded_packages", "patch_hash", "reproducibility",
           "strip_credentials"]
