"""Keras 3: a callback that writes one row when ``fit`` ends.

    model.fit(x, y, epochs=20, validation_split=0.2,
              callbacks=[SheettrackCallback("runs.xlsx", params={"dropout": 0.2})])

The row holds the hyperparameters (yours, plus epochs, batch size, the optimizer's class and
learning rate, the model's name and parameter count), the final and the best value of each
metric Keras reports (``val_loss``, ``val_loss_best``, ``val_loss_best_epoch``, epochs
counted from 1), ``epochs_trained`` and status: ``finished``, or ``failed`` when a metric
became NaN (as with ``TerminateOnNaN``).
"""

from __future__ import annotations

from typing import Any

from ._common import CallbackSettings, History, hparam, log_training, require, started_now

keras = require("keras", "keras", "Keras 3")
KerasCallback: Any = keras.callbacks.Callback


class SheettrackCallback(CallbackSettings, KerasCallback):
    """Collects each epoch's logs; appends the run's row in ``on_train_end``."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = History(self.goals)
        self._started = started_now()
        self.run_id = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.history.add(epoch + 1, dict(logs or {}))

    def _params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        fit = getattr(self, "params", None) or {}
        if fit.get("epochs") is not None:
            out["epochs"] = int(fit["epochs"])
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            out["optimizer"] = type(optimizer).__name__
            lr = getattr(optimizer, "learning_rate", None)
            try:
                out["lr"] = float(keras.ops.convert_to_numpy(lr))
            except Exception:
                pass
        out["model"] = getattr(model, "name", None)
        try:
            out["n_weights"] = int(model.count_params())
        except Exception:
            pass
        out.update({k: hparam(v) for k, v in self.hparams.items()})
        return out

    def on_train_end(self, logs: dict | None = None) -> None:
        self.run_id = log_training(self.target, template=self.template, params=self._params(),
                                   history=self.history, tags=self.tags, hypothesis=self.hypothesis,
                                   notes=self.notes, started=self._started,
                                   framework=f"keras {keras.__version__} ({keras.backend.backend()})")
