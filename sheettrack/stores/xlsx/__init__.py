"""The workbook store: a local .xlsx file, edited part by part (see ``store``).

Modules, from the bottom up: ``xml`` (escaping, attributes, cell references), ``zip`` (the
package read lazily and written with members replaced), ``styles``, ``parts`` (where things
are in the package; the sheet list), ``worksheet`` (cells and rows), ``tables``, ``append``
(the fast path), ``create``, ``references``, ``summaries``, ``lock``, ``journal`` (how a
write reaches the file) and ``store`` (``ExcelStore``, the only name others need).
"""

from .store import ExcelStore, WriteStats

__all__ = ["ExcelStore", "WriteStats"]
