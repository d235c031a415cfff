"""A Lightning Trainer set up for the course: offline W&B, checkpoints, early stopping, resume.

Everything a run writes goes under ``outputs_dir(profile, "torchgeo", run_name)``:
``checkpoints/`` (``last.ckpt`` and the best by ``val_loss``), ``wandb/``
(offline runs, ``wandb sync <dir>/wandb/offline-run-*`` uploads one later)
and Lightning's own files.

Resuming: :func:`fit` passes ``ckpt_path`` = the run's ``last.ckpt`` when it
exists, so re-running an interrupted notebook cell continues where it
stopped (same epoch, optimiser and scheduler state) instead of starting over.

Examples
--------
Needs the demo data and a training run (skipped under doctest):

>>> trainer, run_dir = make_trainer(  # doctest: +SKIP
...     "ci", "demo-run", max_epochs=1, data_dir="/tmp/geoml-example", logger=False
... )
>>> fit(trainer, task, datamodule, run_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geoml_helpers.core.profiles import outputs_dir


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
    max_time: str | None = None,
    callbacks: Sequence[Any] = (),
    enable_progress_bar: bool = True,
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
    max_time : str, optional
        Wall-clock cap such as ``"00:00:08:00"`` (DD:HH:MM:SS).
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
    import lightning.pytorch as pl
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
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=max_epochs,
        max_time=max_time,
        default_root_dir=str(folder),
        logger=logger,
        callbacks=[best, latest, stopping, *callbacks],
        enable_progress_bar=enable_progress_bar,
        deterministic=trainer_kwargs.pop("deterministic", "warn"),
        **trainer_kwargs,
    )
    return trainer, folder


def fit(trainer: Any, task: Any, datamodule: Any, folder: str | os.PathLike[str], resume: bool = True) -> Path | None:
    """``trainer.fit``, resuming from the run's ``last.ckpt`` when there is one.

    Returns
    -------
    pathlib.Path or None
        The checkpoint training resumed from, or None for a fresh start.

    Examples
    --------
    Needs the demo data and a training run (skipped under doctest):

    >>> resumed_from = fit(trainer, task, datamodule, folder)  # doctest: +SKIP
    """
    ckpt = last_checkpoint(folder) if resume else None
    with warnings.catch_warnings():
        # Resuming writes into the run's own checkpoint folder on purpose; lightning warns that it is not empty.
        warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty", UserWarning)
        trainer.fit(task, datamodule=datamodule, ckpt_path=str(ckpt) if ckpt else None)
    return ckpt


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
