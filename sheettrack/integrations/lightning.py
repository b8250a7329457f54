"""PyTorch Lightning: a callback that writes one row when ``fit`` ends, or fails.

    trainer = L.Trainer(max_epochs=10, callbacks=[SheettrackCallback("runs.xlsx")])

The row holds the hyperparameters (``save_hyperparameters()`` of the module and the
datamodule, yours, ``max_epochs``, the optimizer's class and learning rate, the parameter
count), the final and the best value of each metric in ``trainer.callback_metrics`` at the end
of each epoch, the epoch of the best (counted from 1), ``epochs_trained`` and status:
``finished``; ``failed`` with the exception's message when training raised, or when a metric
became NaN; ``interrupted`` on Ctrl-C. Works with ``lightning`` and ``pytorch_lightning``.
"""

from __future__ import annotations

from typing import Any

from ._common import CallbackSettings, History, hparam, log_training, require, started_now

try:
    import lightning.pytorch as pl
except ImportError:
    pl = require("pytorch_lightning", "lightning", "PyTorch Lightning")


class SheettrackCallback(CallbackSettings, pl.Callback):
    """Collects ``callback_metrics`` each epoch; appends the run's row when fitting ends."""

    _done = False  # the row is written once, on rank 0

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.history = History(self.goals)
        self._started = started_now()
        self.run_id, self._done = None, False

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.history.add(trainer.current_epoch + 1, dict(trainer.callback_metrics))

    def _params(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"model": type(pl_module).__name__}
        if trainer.max_epochs is not None and trainer.max_epochs >= 0:
            out["max_epochs"] = int(trainer.max_epochs)
        if trainer.optimizers:
            opt = trainer.optimizers[0]
            out["optimizer"] = type(opt).__name__
            lr = opt.param_groups[0].get("lr") if getattr(opt, "param_groups", None) else None
            if lr is not None:
                out["lr"] = float(lr)
        out["n_weights"] = int(sum(p.numel() for p in pl_module.parameters()))
        datamodule = getattr(trainer, "datamodule", None)
        for source in (getattr(datamodule, "hparams", None), getattr(pl_module, "hparams", None)):
            if source:
                out.update({k: hparam(v) for k, v in dict(source).items()})
        out.update({k: hparam(v) for k, v in self.hparams.items()})
        return out

    def _write(self, trainer: Any, pl_module: Any, status: str | None = None,
               error: str | None = None) -> None:
        if self._done or getattr(trainer, "global_rank", 0) != 0:
            return
        self._done = True
        self.run_id = log_training(self.target, template=self.template,
                                   params=self._params(trainer, pl_module), history=self.history,
                                   tags=self.tags, hypothesis=self.hypothesis, notes=self.notes,
                                   started=self._started, status=status, error=error,
                                   framework=f"lightning {pl.__version__}")

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._write(trainer, pl_module)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self._write(trainer, pl_module, "interrupted", "KeyboardInterrupt")
            return
        first = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
        message = f"{type(exception).__name__}: {first}" if first else type(exception).__name__
        self._write(trainer, pl_module, "failed", message[:1000])
