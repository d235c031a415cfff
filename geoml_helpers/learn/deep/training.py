"""A Lightning Trainer set up for the course: offline W&B, checkpoints, early stopping, resume.

Everything a run writes goes under ``outputs_dir(profile, "torchgeo", run_name)``:
``checkpoints/`` (``last.ckpt`` and the best by ``val_loss``), ``wandb/``
(offline runs, ``wandb sync <dir>/wandb/offline-run-*`` uploads one later)
and Lightning's own files.

Progress: :class:`LiveProgress` shows one line that updates in place while a
notebook trains in Jupyter and is left as one summary line in the saved
notebook (and the book), instead of Lightning's bars; Lightning's info
messages (accelerator, model summary, tips) are kept off stderr.

Resuming: :func:`fit` passes ``ckpt_path`` = the run's ``last.ckpt`` when a
previous run was *interrupted*, so re-running an interrupted notebook cell
continues where it stopped (same epoch, optimiser and scheduler state). A run
that finished leaves a ``finished`` mark beside its checkpoints, and running
the cell again trains afresh: a learner who changed ``lr`` gets a new model,
not the old one reloaded.

Examples
--------
Needs the demo data and a training run (skipped under doctest):

>>> trainer, run_dir = make_trainer(  # doctest: +SKIP
...     "ci", "demo-run", max_epochs=1, data_dir="/tmp/geoml-example", logger=False
... )
>>> fit(trainer, task, datamodule, run_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from geoml_helpers.core.logs import log_levels
from geoml_helpers.core.profiles import outputs_dir

__all__ = [
    "LiveProgress",
    "finish_wandb",
    "fit",
    "interrupted_checkpoint",
    "last_checkpoint",
    "make_trainer",
    "make_wandb_logger",
    "quiet_lightning",
    "run_dir",
    "seed_everything",
]

#: Lightning warnings that say nothing to a reader of the course (few DataLoader workers on a laptop,
#: a short epoch, a deterministic-algorithm notice).
_BENIGN_WARNINGS = (
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
    ".*LeafSpec.*",
    ".*anonymous setting.*",
    ".*Checkpoint directory .* exists and is not empty.*",
)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Keep Lightning's info messages and its benign warnings out of a notebook's outputs.

    Lightning logs "GPU available", the model summary, tips and "Time limit
    reached" at INFO level to stderr, and warns about DataLoader workers on a
    small machine; none of it helps a reader, and the book shows no stderr.
    Real warnings and errors still show.

    Examples
    --------
    >>> with quiet_lightning():
    ...     logging.getLogger("lightning.pytorch").info("GPU available: False")
    """
    names = ("lightning.pytorch", "lightning.fabric", "lightning")
    with log_levels(dict.fromkeys(names, logging.WARNING)), warnings.catch_warnings():
        for message in _BENIGN_WARNINGS:
            warnings.filterwarnings("ignore", message)
        yield


class LiveProgress(pl.Callback):
    """One line of training progress, updated in place in Jupyter; one summary line stays in the notebook.

    Lightning's bars print a line per redraw into a saved notebook. This
    callback shows a single display that it updates (epoch, step, losses,
    elapsed time) and, when training ends, replaces with one summary line, so
    a learner sees progress live and the executed notebook (the book) keeps
    only the summary. Outside IPython it shows nothing.

    Examples
    --------
    >>> LiveProgress().text({"train_loss": 0.51, "val_loss": 0.62}, epoch=2, max_epochs=12, step=16, seconds=9.5)
    'epoch 3/12 · step 16 · train_loss 0.510 · val_loss 0.620 · 10 s'
    """

    def __init__(self) -> None:
        self._handle: Any = None
        self._started = 0.0

    @staticmethod
    def text(metrics: dict, *, epoch: int, max_epochs: int, step: int, seconds: float) -> str:
        """The progress line for these metrics."""
        shown = [f"{k} {float(v):.3f}" for k, v in metrics.items() if k in ("train_loss", "val_loss")]
        return " · ".join([f"epoch {epoch + 1}/{max_epochs}", f"step {step}", *shown, f"{seconds:.0f} s"])

    def _show(self, trainer: Any) -> None:
        if self._handle is None:
            return
        line = self.text(
            dict(trainer.callback_metrics),
            epoch=trainer.current_epoch,
            max_epochs=trainer.max_epochs or 0,
            step=trainer.global_step,
            seconds=time.perf_counter() - self._started,
        )
        self._handle.update(_Line(line))

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the progress line (in IPython only)."""
        self._started = time.perf_counter()
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is not None:
            self._handle = display(_Line("training ..."), display_id=True)

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        """Update the line after each step."""
        self._show(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Update the line with the new validation loss."""
        self._show(trainer)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Replace the line with the summary that stays in the notebook."""
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k == "val_loss"}
        seconds = time.perf_counter() - self._started
        if self._handle is not None:
            done = f"{trainer.current_epoch} epochs, {trainer.global_step} steps in {seconds:.0f} s"
            loss = f", val_loss {metrics['val_loss']:.3f}" if metrics else ""
            self._handle.update(_Line(f"trained {done}{loss}"))
        self._handle = None


class _Line:
    """A display object that is one line of plain text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and torch (and DataLoader workers) with Lightning's helper.

    Examples
    --------
    >>> seed_everything(7)
    7
    """
    import lightning.pytorch as pl

    return pl.seed_everything(seed, workers=True, verbose=False)


def run_dir(profile: str, run_name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data>/outputs/<profile>/torchgeo/<run_name>``: everything one training run writes.

    Examples
    --------
    >>> run_dir("ci", "unet", data_dir="/tmp/geoml-example").as_posix()
    '/tmp/geoml-example/outputs/ci/torchgeo/unet'
    """
    return outputs_dir(profile, "torchgeo", run_name, data_dir=data_dir)


def last_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The run's ``checkpoints/last.ckpt`` if training has saved one, else None.

    Examples
    --------
    >>> last_checkpoint("/nonexistent") is None
    True
    """
    path = Path(folder) / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None


def interrupted_checkpoint(folder: str | os.PathLike[str]) -> Path | None:
    """The run's ``last.ckpt`` if training stopped before it finished (to resume from), else None.

    A run that :func:`fit` completed writes ``checkpoints/finished``; a
    ``last.ckpt`` newer than that mark belongs to a later, interrupted run.

    Examples
    --------
    >>> interrupted_checkpoint("/nonexistent") is None
    True
    """
    ckpt = last_checkpoint(folder)
    if ckpt is None:
        return None
    mark = Path(folder) / "checkpoints" / _FINISHED
    if mark.is_file() and mark.stat().st_mtime >= ckpt.stat().st_mtime:
        return None
    return ckpt


_FINISHED = "finished"


def make_wandb_logger(
    folder: Path, run_name: str, project: str = "geoml", offline: bool = True, config: dict | None = None
):
    """A :class:`~lightning.pytorch.loggers.WandbLogger` writing under ``folder`` (offline unless asked).

    The run id is derived from the folder so a resumed run appends to the same W&B run.

    Examples
    --------
    Needs the demo data and a training run (skipped under doctest):

    >>> logger = make_wandb_logger(Path("/tmp/geoml-example/run"), "run")  # doctest: +SKIP
    """
    from lightning.pytorch.loggers import WandbLogger

    if offline:
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    folder.mkdir(parents=True, exist_ok=True)
    run_id = "".join(c if c.isalnum() else "-" for c in f"{folder.parent.parent.name}-{run_name}")[:60]
    return WandbLogger(
        name=run_name,
        project=project,
        save_dir=str(folder),
        offline=offline,
        id=run_id,
        resume="allow",
        config=config,
        log_model=False,
    )


def make_trainer(
    profile: str,
    run_name: str,
    *,
    max_epochs: int,
    data_dir: str | os.PathLike[str] | None = None,
    patience: int = 5,
    monitor: str = "val_loss",
    logger: bool | Any = True,
    wandb_offline: bool = True,
    max_time: str | dict | None = None,
    min_epochs: int | None = None,
    callbacks: Sequence[Any] = (),
    enable_progress_bar: bool = False,
    accelerator: str = "auto",
    **trainer_kwargs: Any,
):
    """A Trainer with ModelCheckpoints (best by ``monitor``, last every epoch), EarlyStopping and an offline W&B logger.

    Parameters
    ----------
    profile, run_name : str
        Where the run writes (see :func:`run_dir`).
    max_epochs : int
    patience : int
        Epochs without ``monitor`` improving before early stopping.
    logger : bool or Logger
        True: an offline :class:`WandbLogger`; False: none; or your own logger.
    wandb_offline : bool
        Set False to log online (needs ``wandb login`` and the network).
    max_time : str or dict, optional
        Wall-clock cap such as ``"00:00:08:00"`` (DD:HH:MM:SS) or ``{"minutes": 8}``.
    min_epochs : int, optional
        Epochs trained even when ``max_time`` or early stopping would stop sooner. With a
        ``max_time`` the default is half of ``max_epochs``: a cap measured in seconds
        depends on the machine and its load, and on a busy one it would otherwise stop
        after a few steps and leave a model that predicts one class everywhere.
    enable_progress_bar : bool
        Lightning's own bars (off: :class:`LiveProgress` shows one updating line instead).
    accelerator : str
        ``"auto"``: a GPU when there is one, else the CPU.

    Returns
    -------
    (lightning.pytorch.Trainer, pathlib.Path)
        The trainer and the run folder.

    Examples
    --------
    Needs the demo data and a training run (skipped under doctest):

    >>> trainer, folder = make_trainer("ci", "unet", max_epochs=3, logger=False)  # doctest: +SKIP
    """
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    folder = run_dir(profile, run_name, data_dir)
    # Lightning's save_last only refreshes last.ckpt when a *top-k* checkpoint is written, so an
    # epoch that does not improve val_loss would be lost on resume. A second, unmonitored
    # checkpoint writes every epoch and keeps last.ckpt current.
    best = ModelCheckpoint(
        dirpath=folder / "checkpoints", filename="best-{epoch:02d}", monitor=monitor, mode="min", save_top_k=1
    )
    latest = ModelCheckpoint(
        dirpath=folder / "checkpoints", filename="latest-{epoch:02d}", monitor=None, save_top_k=1, save_last=True
    )
    stopping = EarlyStopping(monitor=monitor, mode="min", patience=patience)
    if logger is True:
        logger = make_wandb_logger(folder, run_name, offline=wandb_offline)
    if min_epochs is None and max_time is not None:
        min_epochs = max(1, max_epochs // 2)
    progress = [] if enable_progress_bar else [LiveProgress()]
    trainer_kwargs.setdefault("enable_model_summary", False)
    with quiet_lightning():
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=1,
            max_epochs=max_epochs,
            max_time=max_time,
            min_epochs=min_epochs,
            default_root_dir=str(folder),
            logger=logger,
            callbacks=[best, latest, stopping, *progress, *callbacks],
            enable_progress_bar=enable_progress_bar,
            deterministic=trainer_kwargs.pop("deterministic", "warn"),
            **trainer_kwargs,
        )
    return trainer, folder


def fit(
    trainer: Any,
    task: Any,
    datamodule: Any,
    folder: str | os.PathLike[str],
    resume: bool = True,
    *,
    loaders: Sequence[Any] | None = None,
) -> Path | None:
    """``trainer.fit``, resuming from the run's ``last.ckpt`` only when a previous run was interrupted.

    A finished run's checkpoints (in ``folder/checkpoints``) are removed and
    training starts afresh (the previous model is superseded); an interrupted
    one is continued. Lightning's info lines and W&B's notices stay off stderr.

    Parameters
    ----------
    trainer, task, datamodule
        ``datamodule`` may be None when ``loaders`` are given.
    folder : path-like
        The run folder (checkpoints in ``folder/checkpoints``).
    resume : bool
        Continue an interrupted run (False: always start afresh).
    loaders : sequence, optional
        ``(train_dataloader, val_dataloader)`` instead of a datamodule.

    Returns
    -------
    pathlib.Path or None
        The checkpoint training resumed from, or None for a fresh start.

    Examples
    --------
    Needs the demo data and a training run (skipped under doctest):

    >>> resumed_from = fit(trainer, task, datamodule, folder)  # doctest: +SKIP
    """
    checkpoints = Path(folder) / "checkpoints"
    ckpt = interrupted_checkpoint(folder) if resume else None
    if ckpt is None and checkpoints.is_dir():  # a fresh start: the old run's files would mix with the new
        for old in [*checkpoints.glob("*.ckpt"), checkpoints / _FINISHED]:
            old.unlink(missing_ok=True)
    # Resuming writes into the run's own checkpoint folder on purpose (Lightning warns that it is not empty);
    # quiet_lightning keeps that and Lightning's info lines out of the notebook.
    with quiet_lightning():
        _start_logger_quietly(trainer)
        if loaders is not None:
            trainer.fit(task, *loaders, ckpt_path=str(ckpt) if ckpt else None)
        else:
            trainer.fit(task, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None)
    if not getattr(trainer, "interrupted", False):
        checkpoints.mkdir(parents=True, exist_ok=True)
        (checkpoints / _FINISHED).write_text(f"finished at step {trainer.global_step}\n")
    return ckpt


def _start_logger_quietly(trainer: Any) -> None:
    """Start the W&B run now, its console notices (offline mode, deprecated settings) kept off stderr."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                logger.experiment  # noqa: B018  (creating the run is the point)


def finish_wandb() -> None:
    """Close the current W&B run, if any (so its offline folder is complete and syncable).

    Examples
    --------
    >>> finish_wandb()
    """
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()
