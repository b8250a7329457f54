"""``python -m sheettrack`` runs the command line, for when the script is not on PATH."""

from .cli import main

main(prog_name="sheettrack")
