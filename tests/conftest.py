"""Shared fixtures: a workbook path, python-calamine rows, and headless LibreOffice.

LibreOffice is a required test dependency (``apt-get install libreoffice-calc-nogui``):
the fixture fails, never skips, when ``soffice`` is missing, so a workbook that only
sheettrack can read is never mistaken for a good one.
"""

from __future__ import annotations

import csv
import itertools
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import read_calamine

SOFFICE_TIMEOUT_S = 120
# Field separator ",", quote '"', UTF-8, every sheet exported as FILE-SheetName.csv.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


class LibreOffice:
    """Headless LibreOffice with a profile of its own, converting workbooks it has read."""

    def __init__(self, exe: str, root: Path) -> None:
        self.exe = exe
        self.root = root
        self.profile = (root / "lo-profile").as_uri()
        self._n = itertools.count()
        self.conversions = 0

    def _convert(self, path: Path, to: str) -> Path:
        outdir = self.root / f"out{next(self._n)}"
        outdir.mkdir()
        cmd = [self.exe, "--headless", "--norestore", "--nolockcheck",
               f"-env:UserInstallation={self.profile}", "--convert-to", to,
               "--outdir", str(outdir), str(path)]
        self.conversions += 1
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=SOFFICE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"LibreOffice did not convert {path} within {SOFFICE_TIMEOUT_S} s")
        if done.returncode != 0 or not any(outdir.iterdir()):
            pytest.fail(f"LibreOffice could not convert {path} (exit {done.returncode}):\n"
                        f"{done.stdout}\n{done.stderr}")
        return outdir

    def csv(self, path: Path) -> dict[str, list[list[str]]]:
        """Every sheet of the workbook as LibreOffice reads it: sheet name -> CSV rows."""
        path = Path(path)
        outdir = self._convert(path, CSV_FILTER)
        prefix = f"{path.stem}-"
        sheets: dict[str, list[list[str]]] = {}
        for file in sorted(outdir.glob("*.csv")):
            name = file.stem[len(prefix):] if file.stem.startswith(prefix) else file.stem
            with open(file, newline="", encoding="utf-8") as fh:
                sheets[name] = list(csv.reader(fh))
        if not sheets:
            pytest.fail(f"LibreOffice wrote no CSV for {path}: {sorted(outdir.iterdir())}")
        return sheets

    def pdf(self, path: Path) -> Path:
        """The workbook as LibreOffice prints it (its own print setup), as a PDF file."""
        path = Path(path)
        out = self._convert(path, "pdf") / f"{path.stem}.pdf"
        if not out.is_file():
            pytest.fail(f"LibreOffice wrote no PDF for {path}")
        return out

    def to_xlsx(self, path: Path, folder: Path | None = None) -> Path:
        """The workbook opened and saved again by LibreOffice, as .xlsx (copied into ``folder``)."""
        path = Path(path)
        outdir = self._convert(path, "xlsx")
        out = outdir / f"{path.stem}.xlsx"
        if not out.is_file():
            pytest.fail(f"LibreOffice wrote no .xlsx for {path}: {sorted(outdir.iterdir())}")
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            out = Path(shutil.copy2(out, folder / out.name))
        return out


@pytest.fixture(scope="session")
def libreoffice(tmp_path_factory: pytest.TempPathFactory) -> LibreOffice:
    """LibreOffice for independent checks of a workbook; the suite fails without it."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    assert exe, ("LibreOffice is required by the test suite but 'soffice' is not on PATH; "
                 "install it with: apt-get install libreoffice-calc-nogui")
    return LibreOffice(exe, tmp_path_factory.mktemp("libreoffice"))


@pytest.fixture
def calamine_rows() -> Callable[..., list[list[Any]]]:
    """``calamine_rows(path, sheet="Runs")``: a sheet's rows as python-calamine reads them."""
    return read_calamine


@pytest.fixture
def tmp_book(tmp_path: Path) -> Path:
    """Path of a workbook that does not exist yet, in a folder of its own."""
    folder = tmp_path / "book"
    folder.mkdir()
    return folder / "runs.xlsx"


@pytest.fixture(autouse=True)
def _own_files_per_test() -> Iterator[None]:
    """Each test starts with no workbook registered as sheettrack's own (see provenance) and
    no target opened (see sessions)."""
    from sheettrack import provenance
    from sheettrack.session import Session

    provenance._OWN.clear()
    Session.forget()
    yield
    provenance._OWN.clear()
    Session.forget()


@pytest.fixture(autouse=True)
def outbox_dir(tmp_path_factory) -> Iterator[Path]:
    """Each test queues into an outbox folder of its own, never the user's (kept even when a
    test undoes its own monkeypatching)."""
    folder = tmp_path_factory.mktemp("outbox")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHEETTRACK_OUTBOX_DIR", str(folder))
        mp.delenv("SHEETTRACK_MODE", raising=False)
        yield folder


@pytest.fixture(autouse=True)
def artifacts_dir(tmp_path_factory, monkeypatch) -> Path:
    """Patches of the checkout's own uncommitted changes (tests log from inside it) go to a
    folder of the test's own, not beside the workbooks tests inspect."""
    folder = tmp_path_factory.mktemp("artifacts")
    monkeypatch.setenv("SHEETTRACK_ARTIFACTS", str(folder))
    return folder


# ---- Google Sheets emulator ------------------------------------------------------------------

from tests.sheets_emulator import Emulator  # noqa: E402


@pytest.fixture(scope="session")
def sheets_emulator() -> Iterator[Emulator]:
    """A local Sheets v4 / Drive v3 API in strict mode, started once per test run.

    Its state (spreadsheets, requests seen, faults, quotas) is reset before each test that uses
    it, and the test fails if a reply broke Google's discovery schemas or the emulator erred.
    """
    emu = Emulator(writes_per_minute=None, strict=True).start()
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def _fresh_sheets_emulator(request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset the emulator for every test that uses it; keep such tests off the real network."""
    if "sheets_emulator" not in request.fixturenames:
        yield
        return
    emu = request.getfixturevalue("sheets_emulator")
    emu.reset()
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    _loopback_only(monkeypatch)
    yield
    problems = emu.schema_violations + emu.internal_errors
    assert not problems, "the Sheets emulator misbehaved:\n" + "\n".join(problems)


def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse connections and name look-ups for anything but 127.0.0.1 / localhost."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOOPBACK:
            raise OSError(f"test tried to reach {address!r}; only the local emulator is allowed")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK and host is not None:
            raise OSError(f"test tried to resolve {host!r}; only the local emulator is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


_LOOPBACK = {"127.0.0.1", "::1", "localhost", b"127.0.0.1", b"localhost"}


@pytest.fixture
def gs_credentials(sheets_emulator: Emulator, tmp_path: Path) -> Path:
    """A service-account JSON the emulator trusts (token_uri points at it)."""
    return sheets_emulator.write_service_account(tmp_path / "service_account.json")
