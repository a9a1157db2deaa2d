"""Figure 8: figures 1, 2 and 5 on CUDA, and the mosaic made on the device."""

from __future__ import annotations

import torch

from bench.timing import Figure, repeat

SHAPES = [(2048, 7, 7), (256, 56, 56), (64, 112, 112)]


def gpu(quick: bool) -> Figure:
    fig = Figure("8", "On the GPU: figures 1, 2 and 5 on CUDA; the mosaic made on the device")
    if not torch.cuda.is_available():
        fig.add("CUDA", "not measured", "torch.cuda.is_available() is False on this machine", None)
        fig.notes.append("`make bench` fills this figure on a machine with an NVIDIA GPU.")
        return fig
    from bench import engine_figures, gui_figures

    fig.title += f" ({torch.cuda.get_device_name(0)})"
    parts = [gui_figures.click_to_frame(2 if quick else 5, device="cuda"),
             engine_figures.early_exit(3 if quick else 10, device="cuda"),
             engine_figures.extraction(1 if quick else 3, n_images=16 if quick else 256, device="cuda"),
             mosaic_on_device(2 if quick else 20)]
    for part in parts:
        fig.rows += [(f"{part.number}: {item}", value, reference, verdict)
                     for item, value, reference, verdict in part.rows]
        fig.notes += [f"{part.number}: {note}" for note in part.notes]
    return fig


def mosaic_on_device(repeats: int) -> Figure:
    """The mosaic of a CUDA output: normalised and tiled on the GPU, one copy to the host."""
    from engine.recording.mosaic import make_mosaic

    fig = Figure("mosaic", "")
    generator = torch.Generator(device="cuda").manual_seed(0)
    for shape in SHAPES:
        output = torch.randn(*shape, generator=generator, device="cuda").relu_()
        on_cpu = output.cpu()

        def device_mosaic():
            return make_mosaic(output).image

        np_device, np_host = device_mosaic(), make_mosaic(on_cpu).image
        same = bool((np_device.astype(int) - np_host.astype(int)).__abs__().max() <= 1)
        copies = _host_copies(device_mosaic)
        sample = repeat(lambda: (device_mosaic(), torch.cuda.synchronize()), repeats, warmup=2)
        host = repeat(lambda: make_mosaic(on_cpu), repeats, warmup=2)
        fig.add(f"mosaic of a CUDA {'×'.join(map(str, shape))}", f"{sample.ms()}, {copies} device→host copies",
                f"same output copied to the CPU first: {host.ms()}; images equal within 1: {same}",
                copies == 1 and same)
    return fig


def _host_copies(fn) -> int | str:
    """How many device-to-host copies ``fn`` makes, from the CUDA profiler."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - reported in the table instead
        return f"unknown ({type(exc).__name__})"
    return sum(e.count for e in prof.key_averages() if "DtoH" in e.key or "Device -> Host" in e.key)
