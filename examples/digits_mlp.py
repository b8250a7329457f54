"""Two experiments on the digits images that ship with scikit-learn, logged to a workbook.

Hypothesis: a second hidden layer and all the images beat one layer on 1,000 images.
Run:  python examples/digits_mlp.py [BOOK.xlsx]   (default: experiments.xlsx)
Then open the workbook: one row per run, with params, metrics, data fingerprint and
provenance; the Schema sheet explains every column.
"""

from __future__ import annotations

import sys
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import sheettrack


def train(book: str, hidden_layers: tuple[int, ...], n_images: int, hypothesis: str) -> str:
    """Train one MLP and log it; returns the run id."""
    digits = load_digits()
    X, y = digits.data[:n_images] / 16.0, digits.target[:n_images]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    params = {"model": "mlp", "hidden_layers": list(hidden_layers), "n_images": n_images,
              "lr": 0.001, "batch_size": 64, "epochs": 60}
    with sheettrack.start_run(book, template="classification", hypothesis=hypothesis) as run:
        run.log_params(params)
        run.log_data({"train": X_train, "test": X_test})
        run.set_tag("dataset", "sklearn digits")
        clf = MLPClassifier(hidden_layer_sizes=hidden_layers, learning_rate_init=params["lr"],
                            batch_size=params["batch_size"], max_iter=params["epochs"], random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_train, y_train)
        pred = clf.predict(X_test)
        precision, recall, f1, _ = precision_recall_fscore_support(y_test, pred, average="macro",
                                                                   zero_division=0)
        run.log_metrics({"accuracy": accuracy_score(y_test, pred), "precision": precision,
                         "recall": recall, "f1": f1,
                         "loss": log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_)})
        run.note(f"{len(X_train)} training images, {len(X_test)} test images")
    return run.run_id


def main(book: str = "experiments.xlsx") -> None:
    first = train(book, (32,), 1000, "one hidden layer on 1,000 images is a baseline")
    second = train(book, (64, 32), 1797, "two hidden layers on all images beat the baseline")
    df = sheettrack.load(book)
    shown = df[["run_id", "hidden_layers", "n_images", "accuracy", "f1"]].tail(2)
    print(shown.to_string(index=False))
    print(f"\nlogged runs {first} and {second} to {book}")
    print(f"open {book} in Excel or LibreOffice, or try: sheettrack ls {book} --sort -accuracy")


if __name__ == "__main__":
    main(*sys.argv[1:2])
