"""Render the demo workbook's Overview, Leaderboard and Hypotheses sheets to PNG with LibreOffice.

The pictures in docs/images/ are made by this script, never drawn by hand: it builds the demo
workbook (``sheettrack demo``), prints it to PDF with ``soffice --headless``, and turns the
first page of each sheet into a PNG with ``pdftoppm``. It also reports the page count.

Usage::

    python scripts/render_pictures.py              # writes docs/images/{overview,leaderboard,hypotheses}.png
    python scripts/render_pictures.py --book demo.xlsx --out /tmp/pictures
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHEETS = ("Overview", "Leaderboard", "Hypotheses")


def pdf_of(book: Path, folder: Path) -> Path:
    """The workbook printed to PDF by LibreOffice (its own print setup: landscape, fitted)."""
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{folder}/profile",
                    "--convert-to", "pdf", "--outdir", str(folder), str(book)],
                   check=True, capture_output=True, timeout=300)
    return folder / f"{book.stem}.pdf"


def first_pages(pages: list[Any], sheets: tuple[str, ...]) -> dict[str, int]:
    """The 1-based page on which each sheet starts (its footer names it)."""
    out: dict[str, int] = {}
    for number, page in enumerate(pages, start=1):
        m = re.search(r":\s*([^\n]+?)\s*Page \d+ of \d+", page.extract_text())
        if m and m.group(1).strip() in sheets:
            out.setdefault(m.group(1).strip(), number)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, help="an existing workbook (default: build the demo)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args(argv)
    for tool in ("soffice", "pdftoppm"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (LibreOffice and poppler-utils)", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        book = args.book
        if book is None:
            from sheettrack.demo import build_demo

            book = folder / "demo.xlsx"
            build_demo(book, echo=lambda _: None)
        pdf = pdf_of(book.resolve(), folder)
        import pypdf

        pages = list(pypdf.PdfReader(pdf).pages)  # read once: counted, and searched for each sheet
        total = len(pages)
        for sheet, page in first_pages(pages, SHEETS).items():
            stem = args.out / sheet.lower()
            subprocess.run(["pdftoppm", "-r", str(args.dpi), "-png", "-singlefile", "-f", str(page), "-l", str(page),
                            str(pdf), str(stem)], check=True, timeout=120)
            print(f"{stem}.png  ({sheet}, page {page} of {total})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
