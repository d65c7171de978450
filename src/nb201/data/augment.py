"""The paper's augmentation (random crop with zero padding, horizontal flip) and
normalization, applied to whole uint8 batches at once.

The original ran torchvision transforms per PIL image inside DataLoader workers; on a
2-core machine that costs as much as the network step. Here one batch is padded once,
every image's crop window and flip are drawn from a `torch.Generator` (so runs are
reproducible), and all crops are gathered with a single advanced-indexing op. Padding is
done with zeros in pixel space *before* normalizing, as RandomCrop(padding=4) on the PIL
image did, so padded pixels become (0 - mean) / std.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _as_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise ValueError(
            f"expected a uint8 batch [B, H, W, C] (channels last, as ImageData stores it), "
            f"got {x.dtype} {tuple(x.shape)}."
        )
    return x


class _Normalizer:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f"mean and std need one value per channel, got {mean!r} and {std!r}.")
        if min(std) <= 0:
            raise ValueError(f"std must be positive, got {std!r}.")
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        # (x/255 - mean)/std == x * scale + shift. Applied to rows of W*C values with the
        # per-channel constants tiled W times: a broadcast over a trailing dim of 3 runs
        # ~10x slower in torch's CPU kernels than this contiguous in-place form.
        self._scale = torch.tensor([1.0 / (255.0 * s) for s in self.std], dtype=torch.float32)
        self._shift = torch.tensor([-m / s for m, s in zip(self.mean, self.std)], dtype=torch.float32)
        self._tiled: dict[tuple[torch.device, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _affine(self, device: torch.device, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (device, width)
        if key not in self._tiled:
            self._tiled[key] = (self._scale.repeat(width).to(device), self._shift.repeat(width).to(device))
        return self._tiled[key]

    def apply(self, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        b, h, w, c = x.shape
        if c != len(self.mean):
            raise ValueError(f"batch has {c} channels, mean/std have {len(self.mean)}.")
        scale, shift = self._affine(x.device, w)
        rows = x.reshape(b * h, w * c).to(torch.float32)
        out = rows.mul_(scale).add_(shift).view(b, h, w, c).permute(0, 3, 1, 2)
        # The permuted view *is* NCHW in channels_last memory layout, which conv nets on
        # CPU and GPU run fastest with; .contiguous() gives the classic layout on request.
        return out if channels_last else out.contiguous()


def normalize(
    x: torch.Tensor | np.ndarray, mean: Sequence[float], std: Sequence[float], channels_last: bool = True
) -> torch.Tensor:
    """uint8 [B, H, W, C] -> float32 [B, C, H, W], (x/255 - mean) / std (evaluation path)."""
    return _Normalizer(mean, std).apply(_as_tensor(x), channels_last)


class Augment:
    """Batched random crop (zero padding `pad`, default H // 8: 4 at 32x32, 2 at 16x16)
    and horizontal flip, then normalization.

    Call with a uint8 NHWC tensor and a `torch.Generator`; returns float32 NCHW (in
    channels_last memory layout unless `channels_last=False`). The same generator state
    gives the same batch. `normalize(x)` is the deterministic evaluation transform.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        pad: int | None = None,
        flip: bool = True,
        channels_last: bool = True,
    ) -> None:
        if pad is not None and pad < 0:
            raise ValueError(f"pad must be >= 0 (0 disables cropping), got {pad}.")
        self._norm = _Normalizer(mean, std)
        self.mean, self.std = self._norm.mean, self._norm.std
        self.pad = pad
        self.flip = flip
        self.channels_last = channels_last

    def __repr__(self) -> str:
        return f"Augment(mean={self.mean}, std={self.std}, pad={self.pad}, flip={self.flip})"

    def normalize(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self._norm.apply(_as_tensor(x), self.channels_last)

    def __call__(
        self, x: torch.Tensor | np.ndarray, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        x = _as_tensor(x)
        b, h, w, c = x.shape
        pad = h // 8 if self.pad is None else self.pad
        device = x.device
        gdev = generator.device if generator is not None else torch.device("cpu")
        # One draw per image encodes (row offset, column offset, flip): a single small
        # tensor, copied without blocking when the generator lives on another device
        # (a blocking copy would synchronize the host with the GPU at every step).
        span = 2 * pad + 1
        draw = torch.randint(0, span * span * 2, (b,), generator=generator, device=gdev)
        draw = draw.to(device, non_blocking=True)
        flips = (draw % 2).bool() if self.flip else torch.zeros(b, dtype=torch.bool, device=device)
        oy, ox = (draw // 2) // span, (draw // 2) % span
        if pad:
            padded = x.new_zeros((b, h + 2 * pad, w + 2 * pad, c))
            padded[:, pad : pad + h, pad : pad + w] = x
        else:
            padded = x
        # One flat gather of whole pixels (C bytes each) from the padded batch: faster than
        # 3-D advanced indexing or looping over the (2*pad+1)^2 crop offsets.
        hp, wp = h + 2 * pad, w + 2 * pad
        cols = torch.arange(w, device=device)
        cols = torch.where(flips[:, None], cols.flip(0)[None, :], cols[None, :]) + ox[:, None]  # [B, W]
        rows = torch.arange(h, device=device)[None, :] + oy[:, None]  # [B, H]
        base = torch.arange(b, device=device)[:, None] * hp + rows  # [B, H] row in the padded batch
        index = (base[:, :, None] * wp + cols[:, None, :]).reshape(-1)
        crops = padded.reshape(b * hp * wp, c).index_select(0, index).view(b, h, w, c)
        return self._norm.apply(crops, self.channels_last)
