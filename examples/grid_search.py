"""A grid search over MLPs on the digits images, every candidate logged in one write.

Hypothesis: a little L2 regularisation (alpha) helps a one-layer MLP on 1,000 images.
Run:  python examples/grid_search.py [BOOK.xlsx]   (default: experiments.xlsx)
Each candidate becomes a row: its params, mean and std accuracy on the test and train folds,
fit and score times, its rank (sweep_rank) and the sweep_id shared by the grid.
"""

from __future__ import annotations

import sys
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier

import sheettrack
from sheettrack.integrations.sklearn import log_search


def run(book: str, n_images: int = 1000) -> list[str]:
    """Fit the grid and log every candidate; returns the run ids."""
    digits = load_digits()
    X, y = digits.data[:n_images] / 16.0, digits.target[:n_images]
    grid = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2]}
    search = GridSearchCV(MLPClassifier(max_iter=40, learning_rate_init=0.01, random_state=0), grid,
                          cv=3, scoring={"accuracy": "accuracy", "f1": "f1_macro"}, refit="accuracy",
                          return_train_score=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return log_search(search, book, X=X, y=y, template="classification",
                      hypothesis="a little L2 regularisation helps a one-layer MLP",
                      tags={"dataset": "sklearn digits"})


def main(book: str = "experiments.xlsx") -> None:
    ids = run(book)
    df = sheettrack.load(book)
    shown = df[df["run_id"].isin(ids)].sort_values("sweep_rank")
    print(shown[["sweep_rank", "hidden_layer_sizes", "alpha", "mean_test_accuracy",
                 "std_test_accuracy"]].to_string(index=False))
    print(f"\nlogged {len(ids)} candidates of sweep {shown['sweep_id'].iloc[0]} to {book}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
