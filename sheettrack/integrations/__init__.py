"""One-line logging from the frameworks people train with (each an optional extra).

- ``sheettrack.integrations.sklearn``: ``log_search`` writes one row per candidate of a fitted
  ``GridSearchCV``, ``RandomizedSearchCV`` or ``HalvingGridSearchCV``  (extra ``sklearn``).
- ``sheettrack.integrations.optuna``: ``SheettrackCallback`` logs each finished trial;
  ``log_study`` logs a finished study in one write (extra ``optuna``).
- ``sheettrack.integrations.keras``, ``.lightning``, ``.transformers``: a callback that writes
  one row when training ends: hyperparameters, the final and the best value of each metric,
  the epoch of the best, and status (extras ``keras``, ``lightning``, ``transformers``).

Each module imports its framework when it is itself imported; ``import sheettrack`` never does.
"""
