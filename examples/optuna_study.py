"""An Optuna study tuning an MLP on the digits images; each trial logged as it finishes.

Hypothesis: the learning rate matters more than the width of the hidden layer.
Run:  python examples/optuna_study.py [BOOK.xlsx] [N_TRIALS]   (default: experiments.xlsx, 8)
Each trial becomes a row: its params, its test accuracy, trial number and state (pruned
trials too), duration, and the study's name as sweep_id.
"""

from __future__ import annotations

import sys
import time
import warnings

import optuna
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import sheettrack
from sheettrack.integrations.optuna import SheettrackCallback


def run(book: str, n_trials: int = 8, n_images: int = 1000) -> list[str]:
    """Run the study and log each trial; returns the run ids."""
    digits = load_digits()
    X, y = digits.data[:n_images] / 16.0, digits.target[:n_images]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        hidden = trial.suggest_categorical("hidden", [16, 32, 64])
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), learning_rate_init=lr, random_state=0)
        accuracy = 0.0
        for epoch in range(1, 31):  # report as it trains, so weak trials are pruned early
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.partial_fit(X_train, y_train, classes=list(range(10)))
            accuracy = clf.score(X_test, y_test)
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    callback = SheettrackCallback(book, template="classification", metric_names=["accuracy"],
                                  params={"model": "mlp", "n_images": n_images},
                                  hypothesis="the learning rate matters more than the width",
                                  tags={"dataset": "sklearn digits"})
    study = optuna.create_study(direction="maximize", study_name=time.strftime("digits-mlp-%Y%m%d-%H%M%S"),
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5))
    study.optimize(objective, n_trials=n_trials, callbacks=[callback])
    return callback.run_ids


def main(book: str = "experiments.xlsx", n_trials: str = "8") -> None:
    ids = run(book, int(n_trials))
    df = sheettrack.load(book)
    shown = df[df["run_id"].isin(ids)]
    print(shown[["trial_number", "trial_state", "lr", "hidden", "accuracy", "sweep_rank"]].to_string(index=False))
    print(f"\nlogged {len(ids)} trials to {book}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
