"""The model's own preprocessing: torchvision's transforms from the weights entry.

For a torchvision model (random weights included) this is the default weights entry's
``transforms()``, so results equal torchvision's documented pipeline.  Models from files
get the standard ImageNet pipeline at their input size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
from PIL import Image
from torchvision.transforms._presets import ImageClassification

from engine.models.zoo import LoadedModel


class Preprocess:
    """Turns PIL images and procedural stimuli into the model's input tensors."""

    def __init__(self, model: LoadedModel):
        entry = model.weights_entry
        if entry is not None:
            self.transform = entry.transforms()
        else:
            h = model.input_size[0]
            self.transform = ImageClassification(crop_size=h, resize_size=round(h * 256 / 224))
        crop = getattr(self.transform, "crop_size", [model.input_size[0]])
        self.crop_size = int(crop[0])
        self.mean = torch.tensor(getattr(self.transform, "mean", [0.485, 0.456, 0.406])).view(3, 1, 1)
        self.std = torch.tensor(getattr(self.transform, "std", [0.229, 0.224, 0.225])).view(3, 1, 1)

    def describe(self) -> str:
        """One line naming every step, for provenance records."""
        return " ".join(repr(self.transform).split())

    def image(self, image: Image.Image) -> torch.Tensor:
        """A PIL image -> a (3, S, S) normalised tensor, exactly as torchvision does it."""
        return self.transform(image)

    def array(self, stimulus: np.ndarray) -> torch.Tensor:
        """A procedural stimulus (H, W, 3) in [0, 1], already at input size -> normalised tensor.

        Stimuli are made at the model's input size, so only normalisation is applied: no
        resize or crop that would change their spatial frequency.
        """
        t = torch.from_numpy(np.ascontiguousarray(stimulus, dtype=np.float32)).permute(2, 0, 1)
        return (t - self.mean) / self.std

    def to_display(self, tensor: torch.Tensor) -> np.ndarray:
        """A normalised (3, H, W) input -> (H, W, 3) uint8, for the preprocessed preview."""
        t = tensor.detach().cpu().float() * self.std + self.mean
        return (t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def batches(tensors: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Stack a stream of (3, H, W) tensors into batches of at most ``batch_size``."""
    chunk: list[torch.Tensor] = []
    for t in tensors:
        chunk.append(t)
        if len(chunk) == batch_size:
            yield torch.stack(chunk)
            chunk = []
    if chunk:
        yield torch.stack(chunk)
