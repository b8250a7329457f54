"""Keras 3 (torch backend) training logged by ``SheettrackCallback``: one row, read with calamine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import numpy as np  # noqa: E402
from helpers import read_calamine  # noqa: E402

from sheettrack.integrations.keras import SheettrackCallback  # noqa: E402


def runs(path: Path) -> list[dict[str, Any]]:
    values = read_calamine(path)
    return [dict(zip(values[0], row)) for row in values[1:] if any(v not in ("", None) for v in row)]


def tiny_model(lr: float = 0.05) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")], name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n: int = 64) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def test_one_row_with_final_and_best_metrics(tmp_path: Path) -> None:
    book = tmp_path / "keras.xlsx"
    x, y = data()
    callback = SheettrackCallback(book, params={"dropout": 0.0}, hypothesis="a tiny net learns x0+x1>0")
    history = tiny_model().fit(x, y, epochs=4, batch_size=16, validation_split=0.25, verbose=0,
                               callbacks=[callback])
    (row,) = runs(book)
    h = history.history
    assert row["run_id"] == callback.run_id and row["status"] == "finished"
    assert row["epochs"] == 4 and row["epochs_trained"] == 4 and row["dropout"] == 0
    assert row["optimizer"] == "Adam" and row["lr"] == pytest.approx(0.05)
    assert row["model"] == "tiny" and row["n_weights"] == 4 * 8 + 8 + 8 * 2 + 2
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert row[name] == pytest.approx(h[name][-1], rel=1e-6), name
    best = int(np.argmin(h["val_loss"]))
    assert row["val_loss_best"] == pytest.approx(h["val_loss"][best], rel=1e-6)
    assert row["val_loss_best_epoch"] == best + 1
    best_acc = int(np.argmax(h["val_accuracy"]))
    assert row["val_accuracy_best_epoch"] == best_acc + 1
    assert row["framework"].startswith("keras 3") and "torch" in row["framework"]
    assert row["hypothesis"] == "a tiny net learns x0+x1>0"


def test_nan_loss_is_a_failed_run(tmp_path: Path) -> None:
    book = tmp_path / "keras.xlsx"
    x, y = data()
    x[3, 0] = np.nan
    tiny_model().fit(x, y, epochs=3, batch_size=64, verbose=0,
                     callbacks=[keras.callbacks.TerminateOnNaN(), SheettrackCallback(book)])
    (row,) = runs(book)
    assert row["status"] == "failed"
    assert row["error"].startswith("metric loss became nan at epoch 1")
