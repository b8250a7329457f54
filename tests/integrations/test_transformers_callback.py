"""Hugging Face ``Trainer`` on a tiny BERT built from a config (no download), logged in one row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from helpers import read_calamine  # noqa: E402

from sheettrack.integrations.transformers import SheettrackCallback  # noqa: E402


def runs(path: Path) -> list[dict[str, Any]]:
    values = read_calamine(path)
    return [dict(zip(values[0], row)) for row in values[1:] if any(v not in ("", None) for v in row)]


class Pairs(torch.utils.data.Dataset):
    """Sequences of token ids labelled by whether token 5 appears."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 20, (n, 8), generator=g)
        self.labels = (self.ids == 5).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long),
                "labels": self.labels[i]}


def test_trainer_run_is_one_row_with_eval_metrics(tmp_path: Path) -> None:
    transformers.set_seed(0)
    config = transformers.BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=16, num_labels=2)
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), num_train_epochs=3, per_device_train_batch_size=16,
        learning_rate=1e-3, eval_strategy="epoch", logging_strategy="epoch", save_strategy="no",
        report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    book = tmp_path / "hf.xlsx"
    callback = SheettrackCallback(book, params={"tokens": 8})

    def accuracy(p: Any) -> dict[str, float]:
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    trainer = transformers.Trainer(model=model, args=args, train_dataset=Pairs(64, 0),
                                   eval_dataset=Pairs(32, 1), compute_metrics=accuracy,
                                   callbacks=[callback])
    trainer.train()
    (row,) = runs(book)
    assert row["run_id"] == callback.run_id and row["status"] == "finished"
    assert (row["learning_rate"], row["num_train_epochs"], row["per_device_train_batch_size"]) == (0.001, 3, 16)
    assert row["model"] == "BertForSequenceClassification" and row["model_type"] == "bert"
    assert row["n_weights"] == sum(p.numel() for p in model.parameters()) and row["tokens"] == 8
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    assert len(evals) == 3 and row["epochs_trained"] == 3
    losses = [h["eval_loss"] for h in evals]
    assert row["eval_loss"] == pytest.approx(losses[-1], rel=1e-9)
    assert row["eval_loss_best"] == pytest.approx(min(losses), rel=1e-9)
    assert row["eval_loss_best_epoch"] == evals[losses.index(min(losses))]["epoch"]
    assert row["eval_accuracy"] == pytest.approx(evals[-1]["eval_accuracy"])
    train_losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert row["loss"] == pytest.approx(train_losses[-1], rel=1e-9)
