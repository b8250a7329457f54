"""PyTorch Lightning training logged by ``SheettrackCallback``: one row, read with calamine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from helpers import read_calamine  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from sheettrack.integrations.lightning import SheettrackCallback  # noqa: E402


def runs(path: Path) -> list[dict[str, Any]]:
    values = read_calamine(path)
    return [dict(zip(values[0], row)) for row in values[1:] if any(v not in ("", None) for v in row)]


class Tiny(pl.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 8, fail_at_epoch: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch: Any, _: int) -> Any:
        if self.hparams.fail_at_epoch == self.current_epoch:
            raise RuntimeError("loader broke\nsecond line")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, _: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Recorder(pl.Callback):
    """The metrics Lightning holds at the end of each epoch, kept independently of sheettrack."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def loaders() -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x.sum(dim=1, keepdim=True)
    return (DataLoader(TensorDataset(x[:48], y[:48]), batch_size=16),
            DataLoader(TensorDataset(x[48:], y[48:]), batch_size=16))


def trainer(callbacks: list, epochs: int = 3) -> Any:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=callbacks, num_sanity_val_steps=0)


def test_one_row_with_hyperparameters_and_best_epoch(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    book = tmp_path / "lightning.xlsx"
    recorder, callback = Recorder(), SheettrackCallback(book, params={"data": "x sums"}, tags={"team": "t"})
    trainer([recorder, callback]).fit(Tiny(lr=0.05), *loaders())
    (row,) = runs(book)
    assert row["run_id"] == callback.run_id and row["status"] == "finished"
    assert (row["lr"], row["hidden"], row["max_epochs"], row["optimizer"]) == (0.05, 8, 3, "SGD")
    assert row["model"] == "Tiny" and row["n_weights"] == 3 * 8 + 8 + 8 + 1
    assert row["epochs_trained"] == 3 and row["team"] == "t"
    val = [e["val_loss"] for e in recorder.epochs]
    assert row["val_loss"] == pytest.approx(val[-1], rel=1e-6)
    assert row["val_loss_best"] == pytest.approx(min(val), rel=1e-6)
    assert row["val_loss_best_epoch"] == val.index(min(val)) + 1
    assert row["train_loss"] == pytest.approx(recorder.epochs[-1]["train_loss"], rel=1e-6)


def test_an_exception_writes_a_failed_row(tmp_path: Path) -> None:
    book = tmp_path / "lightning.xlsx"
    callback = SheettrackCallback(book)
    with pytest.raises(RuntimeError, match="loader broke"):
        trainer([callback]).fit(Tiny(fail_at_epoch=1), *loaders())
    (row,) = runs(book)
    assert row["status"] == "failed" and row["error"] == "RuntimeError: loader broke"
    assert row["epochs_trained"] == 1 and row["fail_at_epoch"] == 1
