"""How faithfully the Sheets emulator answers, measured on Google's own recorded answers.

Replays every cassette in ``tests/data/gspread-cassettes`` (real Sheets v4 / Drive v3 traffic
recorded by gspread's test suite) against a fresh emulator and prints, per endpoint and overall,
how many statuses, body shapes and exact values matched; answers no emulator can reproduce are
listed and counted apart. Run: ``python benchmarks/emulator_fidelity.py [--differences]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sheets_emulator.replay import replay_all, report  # noqa: E402

CASSETTES = ROOT / "tests" / "data" / "gspread-cassettes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--differences", action="store_true",
                        help="also list every answer whose values differ from Google's")
    parser.add_argument("cassettes", nargs="*", type=Path,
                        help="cassette files (default: every one in tests/data/gspread-cassettes)")
    args = parser.parse_args(argv)
    paths = args.cassettes or sorted(CASSETTES.glob("*.json"))
    for line in report(replay_all(paths), show_failures=args.differences):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
