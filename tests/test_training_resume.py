"""An interrupted training run resumes from its last checkpoint (a real tiny U-Net on the ci demo data)."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from geoml_helpers.learn.deep.datamodule import DemoSegmentationDataModule
from geoml_helpers.learn.deep.models import make_segmentation_task
from geoml_helpers.learn.deep.training import (
    finish_wandb,
    fit,
    interrupted_checkpoint,
    last_checkpoint,
    make_trainer,
    seed_everything,
)


class Interrupt(RuntimeError):
    """Stands in for a killed kernel or a Ctrl-C."""


class StopAtEpoch(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise Interrupt(f"interrupted at the start of epoch {self.epoch}")


class Record(pl.Callback):
    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.start_step: int | None = None
        self.adam_steps: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.start_step = trainer.global_step
        states = trainer.optimizers[0].state
        self.adam_steps = float(next(iter(states.values()))["step"]) if states else 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append(trainer.current_epoch)


def _setup(data_root):
    seed_everything(0)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    dm = DemoSegmentationDataModule(
        "ci", data_dir=data_root, chip_size=32, batch_size=8, train_chips=16, eval_stride=32, seed=0
    )
    task = make_segmentation_task(in_channels=11, num_classes=7)
    return dm, task


def test_interrupted_training_resumes_from_last_checkpoint(demo_ci, data_root):
    dm, task = _setup(data_root)
    trainer, folder = make_trainer(
        "ci",
        "resume-test",
        max_epochs=2,
        data_dir=data_root,
        callbacks=[StopAtEpoch(1)],
        enable_progress_bar=False,
        log_every_n_steps=1,
    )
    with pytest.raises(Interrupt):
        fit(trainer, task, dm, folder)
    finish_wandb()  # the killed kernel's W&B run ends with it; the resumed run is a new one
    ckpt = last_checkpoint(folder)
    assert ckpt is not None
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert saved["epoch"] == 0 and saved["global_step"] == 2  # one epoch of 16 chips / 8 per batch
    assert list(folder.glob("wandb/offline-run-*")), "the offline W&B run is written under the run folder"

    dm2, task2 = _setup(data_root)
    record = Record()
    trainer2, folder2 = make_trainer(
        "ci",
        "resume-test",
        max_epochs=2,
        data_dir=data_root,
        callbacks=[record],
        enable_progress_bar=False,
        log_every_n_steps=1,
    )
    resumed_from = fit(trainer2, task2, dm2, folder2)
    assert resumed_from == ckpt
    assert record.start_step == 2 and record.adam_steps == 2.0  # optimiser state came back too
    assert record.epochs == [1]
    assert trainer2.global_step == 4 and trainer2.current_epoch == 2
    assert torch.equal(dm2.mean, dm.mean)
    restarted = torch.load(last_checkpoint(folder2), map_location="cpu", weights_only=False)
    assert restarted["global_step"] == 4
    first = next(k for k in saved["state_dict"] if k.endswith("weight"))
    assert not torch.equal(saved["state_dict"][first], restarted["state_dict"][first])  # training went on


def test_fresh_start_when_asked(demo_ci, data_root):
    dm, task = _setup(data_root)
    trainer, folder = make_trainer(
        "ci",
        "fresh-test",
        max_epochs=1,
        data_dir=data_root,
        logger=False,
        enable_progress_bar=False,
        limit_val_batches=1,
    )
    assert fit(trainer, task, dm, folder, resume=False) is None
    assert last_checkpoint(folder) is not None and trainer.global_step == 2
    # Running the cell again after a *finished* run trains afresh (a changed lr must give a new model)
    dm, task = _setup(data_root)
    record = Record()
    trainer, folder = make_trainer(
        "ci",
        "fresh-test",
        max_epochs=1,
        data_dir=data_root,
        logger=False,
        callbacks=[record],
        limit_val_batches=1,
    )
    assert interrupted_checkpoint(folder) is None
    assert fit(trainer, task, dm, folder) is None
    assert record.start_step == 0 and record.epochs == [0] and trainer.global_step == 2
    assert sorted(p.name for p in (folder / "checkpoints").glob("*.ckpt")) == [
        "best-epoch=00.ckpt",
        "last.ckpt",
        "latest-epoch=00.ckpt",
    ]  # the finished run's files were replaced, not mixed with the new ones


def test_a_time_cap_leaves_at_least_half_the_epochs(demo_ci, data_root):
    """A wall-clock cap depends on the machine's load: on a busy one it stopped the ci U-Net after 8 steps.

    That model predicted one class everywhere (a user project scored mIoU 0.004-0.03 in the course run
    beside the demo's, 0.35 with its 12 epochs); the cap now stops training only after half the epochs.
    """
    dm, task = _setup(data_root)
    record = Record()
    trainer, folder = make_trainer(
        "ci",
        "time-cap-test",
        max_epochs=4,
        data_dir=data_root,
        logger=False,
        max_time={"seconds": 0.01},
        callbacks=[record],
        limit_val_batches=1,
    )
    fit(trainer, task, dm, folder, resume=False)
    assert trainer.current_epoch == 2 and record.epochs == [0, 1]
