"""``demo``: a workbook built from real runs of the examples, and what to open in it."""

from __future__ import annotations

import click


@click.command()
@click.argument("book", required=False, default="experiments.xlsx")
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True,
              help="Trials of the Optuna study.")
def demo(book: str, trials: int) -> None:
    """Build a demo workbook from real runs of the examples (about 30 s), and say what to open.

    Runs the digits MLPs, a grid search, an Optuna study and command-line logging on the
    digits images that ship with scikit-learn (install with the examples extra).
    """
    try:
        import optuna  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise click.UsageError(f"the demo needs scikit-learn and Optuna: pip install "
                               f"'sheettrack[examples]' ({exc})") from None
    from ..demo import build_demo

    info = build_demo(book, n_trials=trials, echo=lambda line: click.echo(line, err=True))
    parts = ", ".join(f"{n} {what}" for what, n in info["counts"].items())
    click.echo(f"\nlogged {parts} to {book} in {info['seconds']:.0f} s ({info['runs']} runs in the workbook)")
    click.echo(f"open {book} in Excel or LibreOffice (it opens on the Overview):")
    about = {"Overview": "what it tracks, runs by status, the best run, the top five",
             "Leaderboard": "the finished runs, best first",
             "Hypotheses": "each hypothesis against its baseline, with a verdict",
             "Progress": "the primary metric over time"}
    width = max(len(s) for s in [*info["summary_sheets"], "Runs", "Schema"]) + 2
    for sheet in info["summary_sheets"]:
        click.echo(f"  {sheet:<{width}}{about.get(sheet, 'the finished runs summarised, with a chart')}")
    click.echo(f"  {'Runs':<{width}}one row per run (provenance folded away); sort, filter")
    click.echo(f"  {'Schema':<{width}}what every column means")
    click.echo(f"then try:  sheettrack ls {book} --sort -accuracy --top 5")
