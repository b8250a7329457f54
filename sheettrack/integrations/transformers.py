"""Hugging Face ``Trainer``: a callback that writes one row when training ends.

    trainer = Trainer(model, args, train_dataset=..., eval_dataset=...,
                      callbacks=[SheettrackCallback("runs.xlsx")])

The row holds the hyperparameters (yours, and from ``TrainingArguments``: learning rate,
epochs, batch size, weight decay, warm-up, scheduler, optimizer, seed; the model's class,
``model_type`` and parameter count), the final and the best value of each metric the Trainer
logs (``loss``, ``eval_loss``, ``eval_accuracy`` ...), the epoch of the best (as the Trainer
counts it: 1.0 is the end of the first epoch), ``epochs_trained`` and status: ``finished``,
or ``failed`` when a metric became NaN.
"""

from __future__ import annotations

from typing import Any

from ._common import CallbackSettings, History, hparam, log_training, require, started_now

transformers = require("transformers", "transformers", "Hugging Face transformers")

_ARGS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
         "gradient_accumulation_steps", "weight_decay", "warmup_steps", "warmup_ratio",
         "lr_scheduler_type", "optim", "seed")
_SKIP = {"epoch", "step", "total_flos"}


TrainerCallback: Any = transformers.TrainerCallback


class SheettrackCallback(CallbackSettings, TrainerCallback):
    """Collects what the Trainer logs; appends the run's row in ``on_train_end``."""

    _model_params: dict[str, Any] = {}  # replaced, never changed in place

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.history = History(self.goals)
        self._started = started_now()
        self.run_id = None
        self._model_params = {}
        if model is not None:
            self._model_params["model"] = type(model).__name__
            model_type = getattr(getattr(model, "config", None), "model_type", None)
            if model_type:
                self._model_params["model_type"] = model_type
            self._model_params["n_weights"] = int(sum(p.numel() for p in model.parameters()))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        epoch = logs.get("epoch", state.epoch) or 0
        epoch = int(epoch) if float(epoch).is_integer() else round(float(epoch), 3)
        self.history.add(epoch, {k: v for k, v in logs.items() if k not in _SKIP})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        params = {k: hparam(getattr(args, k)) for k in _ARGS if hasattr(args, k)}
        if params.get("max_steps") is not None and params["max_steps"] <= 0:
            params.pop("max_steps")
        params.update(self._model_params)
        params.update({k: hparam(v) for k, v in self.hparams.items()})
        self.run_id = log_training(self.target, template=self.template, params=params,
                                   history=self.history, tags=self.tags, hypothesis=self.hypothesis,
                                   notes=self.notes, started=self._started,
                                   framework=f"transformers {transformers.__version__}")
