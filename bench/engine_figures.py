"""Figures measured on the engine alone: early exit (2) and batch extraction (5)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from bench.timing import Figure, Sample, repeat

RESNET_ORDER = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]


def truncated_resnet(model, layer: str):
    """The physical floor: a hand-written ResNet forward that stops after ``layer``."""
    stop = RESNET_ORDER.index(layer)

    def forward(x):
        for name in RESNET_ORDER[: stop + 1]:
            if name == "fc":
                x = torch.flatten(x, 1)
            x = getattr(model, name)(x)
        return x

    return forward


def early_exit(repeats: int, device: str = "cpu") -> Figure:
    from engine.models.device import synchronize
    from engine.recording.recorder import Recorder

    fig = Figure("2", f"Early exit: recording conv1 of ResNet-101 vs a full forward pass ({device.upper()}, "
                      "1 image, 224 px)")
    torch.manual_seed(0)
    model = torchvision.models.resnet101().eval().to(device)
    x = torch.randn(1, 3, 224, 224, device=device)
    rec = Recorder(model, device)

    def full_pass():
        model(x)
        synchronize(x.device)

    with torch.inference_mode():
        full = repeat(full_pass, repeats)
    conv1 = repeat(lambda: rec.record_one(["conv1"], x), repeats)  # the recorder synchronises
    ratio = conv1.median / full.median
    fig.add("record conv1", conv1.ms(), f"full forward {full.ms()}", ratio <= 0.10)
    fig.add("ratio conv1 / full", f"{ratio:.1%}", "target ≤ 10%", ratio <= 0.10)
    return fig


def _write_images(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    from resources import sample_images

    rng = np.random.default_rng(0)
    sources = [Image.open(p).convert("RGB") for p in sample_images()]
    paths = []
    for i in range(n):
        img = sources[i % len(sources)]
        w, h = img.size
        left, top = int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4))
        crop = img.crop((left, top, left + 3 * w // 4, top + 3 * h // 4)).resize((320, 320))
        path = folder / f"img_{i:04d}.jpg"
        crop.save(path, quality=90)
        paths.append(path)
    return paths


class _Files(torch.utils.data.Dataset):
    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.paths[i]) as img:
            return self.transform(img.convert("RGB"))


def extraction(repeats: int, n_images: int = 256, batch_size: int = 32, device: str = "cpu") -> Figure:
    """`unitscope record` vs a hand-written loop vs torchvision's feature extractor."""
    from torchvision.models.feature_extraction import create_feature_extractor

    from engine.cli import main as cli_main
    from engine.stimuli.image_set import default_workers

    fig = Figure("5", f"Batch extraction: ResNet-50 layer3, {n_images} JPEG images from disk ({device.upper()})")
    tmp = Path(tempfile.mkdtemp(prefix="unitscope-bench-"))
    try:
        paths = _write_images(tmp, n_images)
        transform = torchvision.models.ResNet50_Weights.DEFAULT.transforms()
        workers = default_workers()
        torch.manual_seed(0)
        model = torchvision.models.resnet50().eval()
        weights = tmp / "resnet50.pth"
        torch.save(model.state_dict(), weights)

        def loader():
            return torch.utils.data.DataLoader(_Files(paths, transform), batch_size=batch_size,
                                               num_workers=workers)

        def build():
            # Every contender builds the model from the weights file, as `unitscope record` does.
            net = torchvision.models.resnet50()
            net.load_state_dict(torch.load(weights, weights_only=True))
            return net.eval().to(device)

        def hand_loop():
            forward = truncated_resnet(build(), "layer3")
            outs = []
            with torch.inference_mode():
                for batch in loader():
                    outs.append(forward(batch.to(device)).cpu().numpy())
            np.save(tmp / "hand.npy", np.concatenate(outs))

        def fx_loop():
            extractor = create_feature_extractor(build(), return_nodes={"layer3": "layer3"})
            outs = []
            with torch.inference_mode():
                for batch in loader():
                    outs.append(extractor(batch.to(device))["layer3"].cpu().numpy())
            np.save(tmp / "fx.npy", np.concatenate(outs))

        def unitscope_record():
            code = cli_main(["record", "resnet50", "--weights", str(weights), "--layer", "layer3",
                             "--images", str(tmp), "--out", str(tmp / "us.npy"), "--device", device,
                             "--batch-size", str(batch_size)])
            assert code == 0

        samples: dict[str, list[float]] = {"hand": [], "fx": [], "unitscope": []}
        hand_loop()  # warm the page cache and the allocator
        for _ in range(repeats):  # interleaved, so that drifts hit all three alike
            for key, fn in (("hand", hand_loop), ("fx", fx_loop), ("unitscope", unitscope_record)):
                t0 = time.perf_counter()
                fn()
                samples[key].append(time.perf_counter() - t0)
        # unitscope runs NHWC convolutions on the CPU and cuDNN picks its own algorithms:
        # equal up to float rounding, relative to the outputs' scale.
        ours, hand = np.load(tmp / "us.npy"), np.load(tmp / "hand.npy")
        assert np.allclose(ours, hand, rtol=1e-3, atol=1e-4 * float(np.abs(hand).max()))
        hand, fx, us = (Sample(samples[k]) for k in ("hand", "fx", "unitscope"))
        rate = {k: n_images / Sample(v).median for k, v in samples.items()}
        fig.add("`unitscope record`", f"{us.s()} = {rate['unitscope']:.1f} img/s",
                f"hand-written loop {hand.s()} = {rate['hand']:.1f} img/s",
                rate["unitscope"] >= 0.9 * rate["hand"])
        fig.add("throughput ratio vs hand-written", f"{rate['unitscope'] / rate['hand']:.2f}", "target ≥ 0.90",
                rate["unitscope"] >= 0.9 * rate["hand"])
        fig.add("vs torchvision create_feature_extractor", f"{rate['unitscope']:.1f} img/s",
                f"{fx.s()} = {rate['fx']:.1f} img/s", rate["unitscope"] >= rate["fx"])
        fig.notes.append(f"Each run builds ResNet-50 from a weights file, decodes and preprocesses the images "
                         f"(DataLoader, {workers} worker(s), batch size {batch_size}), runs the forward pass to "
                         "layer3 and saves a .npy file. The loops run NCHW tensors as a script would; "
                         "`unitscope record` runs the convolutions NHWC on the CPU (`--memory-format auto`), "
                         "so its outputs are checked equal to the hand-written loop's up to float rounding "
                         "(relative 1e-3, absolute 1e-4 of the largest value).")
        fig.notes.append("thingsvision: not measured (see the note under this figure in BENCHMARKS.md).")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return fig
