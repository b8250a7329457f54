"""Reproducing a past run: the exact steps, what differs now, and a rerun in a fresh checkout.

``reproduce(target, run_id)`` reads the run's row and what it points at (its environment in
the Environments sheet, its patch file, its data fingerprints) and returns a ``Plan``: the
git checkout, applying the patch, the packages that differ from this environment with the
pip command that pins them, each data fingerprint checked against the file on disk now
(match / changed / missing), and the command, run from the folder it ran in. ``Plan.run()``
runs the command in a fresh git worktree under a temporary folder (the current checkout is
never touched) and the new run is logged with ``reproduces`` naming the original.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SheettrackError, ValidationError
from .stores.base import LocalFile


@dataclass
class DataCheck:
    """One data fingerprint of the run against the file or folder on disk now."""

    name: str | None
    path: str | None
    recorded: str | None
    now: str | None
    status: str  # match | changed | missing | in memory (a DataFrame or array: nothing to check)


@dataclass
class Plan:
    """How to reproduce a run, and what differs from it here."""

    target: str
    run_id: str
    commit: str | None
    branch: str | None
    dirty: bool
    patch_hash: str | None
    patch_file: str | None
    untracked: list[str]
    workdir: str | None
    command: str | None
    script: str | None
    env_hash: str | None
    python: str | None
    python_now: str
    env_recorded: bool
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    pip: str | None = None
    data: list[DataCheck] = field(default_factory=list)
    run_target: str | None = None  # the target as the rerun's process reaches it (a workbook's absolute path)
    diff_hash: str | None = None  # git_diff_hash: the hash of the tracked files' diff when dirty

    @property
    def tracked_changes(self) -> bool:
        """Whether the run's tree differed from its commit in tracked files (a patch is then
        needed). A tree dirty only with untracked files outside the code (exported reports,
        say) has an empty diff: the commit alone is the code."""
        return self.dirty and (bool(self.patch_hash) or self.diff_hash != EMPTY_DIFF_HASH)

    @property
    def mismatches(self) -> list[str]:
        """What stands between this machine and the recorded run, one line each (empty: nothing)."""
        out = []
        if not self.commit:
            out.append("code: the run recorded no git commit (it ran outside a repository)")
        if self.tracked_changes and not self.patch_file:
            out.append("code: the work tree was dirty and its patch is not in the artifacts folder"
                       + (f" (patch {self.patch_hash})" if self.patch_hash else ""))
        if self.untracked:
            out.append(f"code: untracked files the run imported are in no commit: {', '.join(self.untracked)}")
        if self.python and self.python != self.python_now:
            out.append(f"python: the run used {self.python}, this is {self.python_now}")
        if self.env_hash and not self.env_recorded:
            out.append(f"packages: environment {self.env_hash} is not in the Environments sheet")
        for n, (was, now) in sorted(self.changed.items()):
            out.append(f"packages: {n} {now} here, {was} in the run")
        for n, was in sorted(self.missing.items()):
            out.append(f"packages: {n} {was} in the run, not installed here")
        for d in self.data:
            if d.status in ("changed", "missing"):
                out.append(f"data: {d.name or d.path}: {d.status} ({d.path})")
        return out

    def steps(self) -> list[str]:
        """The shell steps that reproduce the run, in order."""
        out = []
        if self.commit:
            out.append(f"git checkout {self.commit}")
        if self.patch_file:
            out.append(f"git apply --binary {shlex.quote(self.patch_file)}")
        if self.pip:
            out.append(self.pip)
        if self.workdir and self.workdir != ".":
            out.append(f"cd {shlex.quote(self.workdir)}")
        if self.command:
            out.append(f"SHEETTRACK_REPRODUCES={self.run_id} {self.command}")
        return out

    def text(self) -> str:
        """The plan as the ``reproduce`` command prints it."""
        lines = [f"Reproduce run {self.run_id} of {self.target}", "", "Steps:"]
        lines += [f"  {i}. {s}" for i, s in enumerate(self.steps(), start=1)] or ["  (nothing recorded)"]
        state = ", clean"
        if self.tracked_changes:
            state = f", dirty: patch {self.patch_hash or 'not saved'}"
        elif self.dirty:
            state = ", tracked files as committed (the tree had untracked files outside the code)"
        lines += ["", f"Code: commit {self.commit or '-'}" + (f" (branch {self.branch})" if self.branch else "")
                  + state]
        if self.untracked:
            lines.append(f"  untracked files it imported: {', '.join(self.untracked)}")
        env = f"Environment {self.env_hash or '-'}: Python {self.python or '?'} (here {self.python_now})"
        if self.env_hash and not self.env_recorded:
            env += "; not in the Environments sheet"
        elif not (self.changed or self.missing or self.extra):
            env += "; the same distributions are installed here"
        lines.append(env)
        for n, (was, now) in sorted(self.changed.items()):
            lines.append(f"  {n}: {was} in the run, {now} here")
        for n, was in sorted(self.missing.items()):
            lines.append(f"  {n}: {was} in the run, not installed here")
        if self.extra:
            lines.append(f"  installed here only: {', '.join(f'{n}=={v}' for n, v in sorted(self.extra.items()))}")
        if self.data:
            lines.append("Data:")
            for d in self.data:
                lines.append(f"  {d.status:9} {d.name or ''} {d.path or ''} ({d.recorded})".rstrip())
        problems = self.mismatches
        if problems:
            lines += ["", f"{len(problems)} mismatch{'es' if len(problems) != 1 else ''}:"]
            lines += [f"  - {p}" for p in problems]
        else:
            lines += ["", "No mismatches."]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The plan as plain values (``--json``)."""
        return {"target": self.target, "run_id": self.run_id, "steps": self.steps(), "mismatches": self.mismatches,
                "commit": self.commit, "patch_file": self.patch_file, "untracked": self.untracked,
                "workdir": self.workdir, "command": self.command, "env_hash": self.env_hash,
                "packages_changed": {n: {"run": a, "here": b} for n, (a, b) in self.changed.items()},
                "packages_missing": self.missing, "packages_extra": self.extra, "pip": self.pip,
                "data": [d.__dict__ for d in self.data]}

    def run(self, repo: str | os.PathLike | None = None, *, keep: bool = False) -> int:
        """Run the command in a fresh git worktree of ``repo`` (the current one by default) at the
        run's commit with its patch applied; the new run is logged with ``reproduces`` set.
        Returns the command's exit code. The current checkout is never touched."""
        from .provenance import git_root

        if not self.command:
            raise ValidationError(f"command: run {self.run_id} recorded no command to run")
        if not self.commit:
            raise ValidationError(f"git_commit: run {self.run_id} recorded no commit to check out")
        if self.tracked_changes and not self.patch_file:
            raise ValidationError(f"patch_hash: run {self.run_id} ran on a dirty tree whose patch is not "
                                  "in the artifacts folder; it cannot be reproduced exactly")
        root = git_root(os.fspath(repo) if repo is not None else os.getcwd())
        if root is None:
            raise SheettrackError("reproduce --run: run it inside a clone of the run's repository")
        left_out = untracked_here(root)
        if left_out:
            import warnings

            from .schema import SheettrackWarning

            more = f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
            warnings.warn(f"untracked files are not in the fresh checkout the run reproduces in: "
                          f"{', '.join(left_out[:10])}{more}" + (
                              " (the run's own tree had untracked files too; no tracked file differed)"
                              if self.dirty and not self.tracked_changes else ""),
                          SheettrackWarning, stacklevel=2)
        if _git(["cat-file", "-e", f"{self.commit}^{{commit}}"], root).returncode != 0:
            raise SheettrackError(f"reproduce --run: commit {self.commit} is not in {root}; fetch it first")
        folder = Path(tempfile.mkdtemp(prefix=f"sheettrack-reproduce-{self.run_id[:10]}-"))
        tree = folder / "tree"
        try:
            done = _git(["worktree", "add", "--detach", str(tree), self.commit], root)
            if done.returncode != 0:
                raise SheettrackError(f"git worktree add failed: {done.stderr.strip()}")
            if self.patch_file:
                done = _git(["apply", "--binary", self.patch_file], str(tree))
                if done.returncode != 0:
                    raise SheettrackError(f"git apply {self.patch_file} failed: {done.stderr.strip()}")
            cwd = tree / (self.workdir or ".")
            argv = shlex.split(self.command)
            if self.script:  # a script named by its absolute path runs from the fresh checkout
                real = os.path.realpath(self.script)
                if real.startswith(os.path.realpath(root) + os.sep):
                    inside = tree / os.path.relpath(real, os.path.realpath(root))
                    argv = [str(inside) if os.path.realpath(a) == real else a for a in argv]
            env = dict(os.environ, SHEETTRACK_REPRODUCES=self.run_id,
                       SHEETTRACK_TARGET=self.run_target or self.target)
            return subprocess.run(argv, cwd=cwd, env=env).returncode
        finally:
            if not keep:
                _git(["worktree", "remove", "--force", str(tree)], root)
                import shutil

                shutil.rmtree(folder, ignore_errors=True)


EMPTY_DIFF_HASH = hashlib.sha256(b"").hexdigest()[:16]
"""``git_diff_hash`` of an empty diff (sha256 of nothing, cut as ``provenance.patch_hash`` cuts
it): the tree was dirty only with untracked files."""


def untracked_here(root: str) -> list[str]:
    """The untracked files (not ignored) of the checkout at ``root``, which a fresh worktree
    lacks."""
    done = _git(["ls-files", "--others", "--exclude-standard"], root)
    return [line for line in done.stdout.splitlines() if line] if done.returncode == 0 else []


def _git(args: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _check_data(fps: Any) -> list[DataCheck]:
    from .fingerprint import fingerprint

    out = []
    for fp in fps if isinstance(fps, list) else []:
        if not isinstance(fp, dict):
            continue
        path = fp.get("path")
        if not path:
            out.append(DataCheck(fp.get("name"), None, fp.get("hash"), None, "in memory"))
            continue
        if not os.path.exists(path):
            out.append(DataCheck(fp.get("name"), path, fp.get("hash"), None, "missing"))
            continue
        try:
            now = fingerprint(path, progress=False).get("hash")
        except (OSError, ValueError):
            out.append(DataCheck(fp.get("name"), path, fp.get("hash"), None, "missing"))
            continue
        out.append(DataCheck(fp.get("name"), path, fp.get("hash"), str(now),
                             "match" if now == fp.get("hash") else "changed"))
    return out


def reproduce(target: str | os.PathLike | None, run_id: str, *, credentials: Any = None,
              artifacts: str | os.PathLike | None = None, packages: dict[str, str] | None = None) -> Plan:
    """The plan that reproduces run ``run_id`` (a unique prefix is enough), checked against this
    machine: packages against the installed distributions (or ``packages``), data against disk."""
    from . import environment, references
    from .frames import show
    from .stores import open_store

    row = show(target, run_id, credentials=credentials)
    store = open_store(target, credentials)
    env_hash = row.get("env_hash")
    recorded = references.read_reference(store, references.ENV_SHEET).get(str(env_hash)) if env_hash else None
    here = packages if packages is not None else environment.current().packages
    diff = environment.compare(environment.parse_packages(references.packages_of(recorded)), here) if recorded else None
    patch_hash = row.get("patch_hash") or None
    patch_file = None
    if patch_hash:
        folder = references.artifacts_dir(store, artifacts)
        if folder is not None and references.patch_path(folder, patch_hash).is_file():
            patch_file = str(references.patch_path(folder, patch_hash))
    import platform

    untracked = row.get("untracked")
    return Plan(
        target=store.target, run_id=str(row["run_id"]), commit=row.get("git_commit"),
        branch=row.get("git_branch"), dirty=bool(row.get("git_dirty")), patch_hash=patch_hash,
        patch_file=patch_file, untracked=list(untracked) if isinstance(untracked, list) else [],
        workdir=row.get("workdir"), command=row.get("command"), script=row.get("script"),
        env_hash=env_hash, python=str(recorded.get("python")) if recorded else row.get("python"),
        python_now=platform.python_version(), env_recorded=recorded is not None,
        changed=diff.changed if diff else {}, missing=diff.missing if diff else {},
        extra=diff.extra if diff else {}, pip=diff.pip_command() if diff else None,
        data=_check_data(row.get("data")), diff_hash=row.get("git_diff_hash") or None,
        run_target=str(store.path) if isinstance(store, LocalFile) else store.target)


def reproductions(target: str | os.PathLike | None, run_id: str, *, credentials: Any = None) -> list[str]:
    """The run ids of the runs logged as reproducing ``run_id``."""
    from .frames import load

    df = load(target, credentials=credentials)
    if "reproduces" not in df.columns:
        return []
    return [str(r) for r in df.loc[df["reproduces"].astype("string") == run_id, "run_id"]]


__all__ = ["DataCheck", "Plan", "reproduce", "reproductions"]
