"""Small models for pixel time series and hyperspectral patches, their Lightning modules, and gradient saliency.

* :class:`TemporalCNN` - 1-D convolutions along time over a pixel's
  ``(time, band)`` series, then pooling over time (robust to cloudy months).
* :class:`SpectralCNN` - a 1-D spectral CNN with a 3 x 3 spatial head over a
  ``(band, y, x)`` patch; its saliency can be read per wavelength.
* :class:`PixelTileModule` - trains a per-pixel model on *tiles*
  ``(B, time, band, h, w)`` with targets ``(B, h, w)`` where ``-1`` = ignore.
* :class:`PatchModule` - trains a patch classifier on ``(B, band, h, w)``.
* :func:`gradient_saliency` - ``|d score / d input|``.

Examples
--------
>>> import torch
>>> TemporalCNN(n_bands=11, n_classes=6)(torch.zeros(5, 12, 11)).shape
torch.Size([5, 6])
>>> SpectralCNN(n_bands=200, n_classes=6)(torch.zeros(2, 200, 5, 5)).shape
torch.Size([2, 6])
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn

from geoml_helpers.learn.deep.xbatcher_data import IGNORE_INDEX


class TemporalCNN(nn.Module):
    """Temporal CNN over one pixel's series ``(N, time, band)`` -> logits ``(N, n_classes)``.

    Two ``Conv1d`` blocks along time (bands as channels), then mean- and
    max-pooling over time, so the number of dates may vary.

    Examples
    --------
    >>> TemporalCNN(4, 3, hidden=8)(torch.zeros(2, 7, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self, n_bands: int, n_classes: int, hidden: int = 64, kernel_size: int = 3, dropout: float = 0.1
    ) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv1d(n_bands, hidden, kernel_size, padding=pad),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Conv1d(hidden, hidden, kernel_size, padding=pad),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, classes)`` of pixel time series ``(N, time, band)``."""
        h = self.features(x.transpose(1, 2))  # (N, hidden, time)
        return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class SpectralCNN(nn.Module):
    """1-D spectral CNN with a small spatial head, for hyperspectral patches ``(N, band, h, w)`` -> logits.

    Each pixel's spectrum goes through two strided ``Conv1d`` layers (kernel 7
    along wavelength), is pooled to 8 spectral features per channel, and a
    3 x 3 ``Conv2d`` then mixes the neighbourhood before global pooling. It is
    a factorised 3-D CNN (spectral then spatial), several times cheaper than
    ``Conv3d`` on a CPU, and its saliency reads per wavelength.

    Examples
    --------
    >>> SpectralCNN(50, 4, channels=4)(torch.zeros(3, 50, 3, 3)).shape
    torch.Size([3, 4])
    """

    def __init__(self, n_bands: int, n_classes: int, channels: int = 16, dropout: float = 0.2) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=7, stride=2, padding=3),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=7, stride=2, padding=3),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(8),
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(8 * channels, 2 * channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * channels, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, classes)`` of hyperspectral patches ``(N, band, y, x)``."""
        n, b, h, w = x.shape
        spectra = x.permute(0, 2, 3, 1).reshape(n * h * w, 1, b)
        f = self.spectral(spectra)  # (n*h*w, channels, 8)
        f = f.reshape(n, h, w, -1).permute(0, 3, 1, 2)
        return self.head(self.spatial(f))


def tile_pixels(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Labelled pixels of a batch of tiles: ``(B, T, C, h, w)``, ``(B, h, w)`` -> ``(N, T, C)``, ``(N,)``.

    Examples
    --------
    >>> x = torch.arange(2 * 3 * 1 * 2 * 2.0).reshape(2, 3, 1, 2, 2)
    >>> y = torch.tensor([[[0, -1], [-1, -1]], [[-1, -1], [-1, 2]]])
    >>> px, py = tile_pixels(x, y)
    >>> tuple(px.shape), py.tolist()
    ((2, 3, 1), [0, 2])
    """
    mask = y >= 0
    return x.permute(0, 3, 4, 1, 2)[mask], y[mask]


class _ClassifierModule(L.LightningModule):
    def __init__(self, model: nn.Module, n_classes: int, lr: float, weight_decay: float, class_weights) -> None:
        super().__init__()
        self.model: nn.Module = model
        self.n_classes = n_classes
        self.lr = lr
        self.weight_decay = weight_decay
        w = None if class_weights is None else torch.as_tensor(np.asarray(class_weights), dtype=torch.float32)
        self.loss_fn = nn.CrossEntropyLoss(weight=w, ignore_index=IGNORE_INDEX)

    def _inputs(self, batch):
        raise NotImplementedError

    def _step(self, batch, stage: str):
        x, y = self._inputs(batch)
        if y.numel() == 0:
            return None
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        self.log(f"{stage}_loss", loss, prog_bar=True, batch_size=y.numel())
        self.log(f"{stage}_acc", acc, prog_bar=True, batch_size=y.numel())
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._step(batch, "test")

    def predict_step(self, batch, batch_idx):
        x, y = self._inputs(batch)
        return self.model(x).argmax(1), y

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class PixelTileModule(_ClassifierModule):
    """Lightning module: a per-pixel series model trained on tiles with ignore-index targets.

    Examples
    --------
    >>> m = PixelTileModule(n_bands=11, n_classes=6)
    >>> labels = torch.full((2, 4, 4), -1).index_fill_(1, torch.tensor([0]), 1)
    >>> px, py = m._inputs((torch.zeros(2, 12, 11, 4, 4), labels))
    >>> m.model(px).shape, py.shape
    (torch.Size([8, 6]), torch.Size([8]))
    """

    def __init__(
        self,
        n_bands: int,
        n_classes: int,
        hidden: int = 64,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        class_weights=None,
    ) -> None:
        class_weights = (
            None if class_weights is None else [float(w) for w in class_weights]
        )  # saved with the checkpoint
        super().__init__(TemporalCNN(n_bands, n_classes, hidden=hidden), n_classes, lr, weight_decay, class_weights)
        self.save_hyperparameters()

    def _inputs(self, batch):
        return tile_pixels(*batch)


class PatchModule(_ClassifierModule):
    """Lightning module: a hyperspectral patch classifier (:class:`SpectralCNN`).

    Examples
    --------
    >>> PatchModule(n_bands=20, n_classes=3, channels=4)(torch.zeros(2, 20, 5, 5)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_bands: int,
        n_classes: int,
        channels: int = 16,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        class_weights=None,
    ) -> None:
        class_weights = (
            None if class_weights is None else [float(w) for w in class_weights]
        )  # saved with the checkpoint
        super().__init__(SpectralCNN(n_bands, n_classes, channels=channels), n_classes, lr, weight_decay, class_weights)
        self.save_hyperparameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of the wrapped :class:`SpectralCNN`."""
        return self.model(x)

    def _inputs(self, batch):
        return batch


def predict_labels(module: _ClassifierModule, loader) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` class indices over every target in ``loader`` (eval mode, no grad).

    Examples
    --------
    >>> m = PatchModule(n_bands=20, n_classes=3, channels=4)
    >>> t, p = predict_labels(m, [(torch.zeros(2, 20, 5, 5), torch.tensor([0, 2]))])
    >>> t.tolist(), p.shape
    ([0, 2], (2,))
    """
    module.eval()
    trues, preds = [], []
    with torch.no_grad():
        for batch in loader:
            x, y = module._inputs(batch)
            if y.numel() == 0:
                continue
            preds.append(module.model(x.to(module.device)).argmax(1).cpu().numpy())
            trues.append(y.cpu().numpy())
    return np.concatenate(trues), np.concatenate(preds)


def gradient_saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Absolute gradient of each sample's class score with respect to its input (same shape as ``x``).

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor
        A batch of inputs.
    target : torch.Tensor, optional
        Class index per sample; the predicted class when omitted.

    Examples
    --------
    >>> m = SpectralCNN(20, 3, channels=4).eval()
    >>> gradient_saliency(m, torch.randn(2, 20, 5, 5)).shape
    torch.Size([2, 20, 5, 5])
    """
    was_training = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    if target is None:
        target = logits.argmax(1)
    score = logits.gather(1, target.view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(score, x)
    model.train(was_training)
    return grad.abs()


def class_weights(targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency class weights (mean 1) from integer targets; absent classes get weight 0.

    Examples
    --------
    >>> class_weights(np.array([0, 0, 0, 1]), 3).round(2).tolist()
    [0.5, 1.5, 0.0]
    """
    counts = np.bincount(targets[targets >= 0], minlength=n_classes).astype(float)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    present = counts > 0
    w[present] *= present.sum() / w[present].sum()
    return w.astype("float32")
