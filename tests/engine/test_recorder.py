"""The recorder: exact outputs, early exit, copies at hook time, calls, cleanup."""

import pytest
import torch
import torchvision
from torch import nn

from engine.errors import UnitscopeError
from engine.recording.recorder import Cancelled, LayerRef, Recorder


@pytest.fixture(scope="module")
def resnet101():
    torch.manual_seed(0)
    return torchvision.models.resnet101().eval()


def _hook_counts(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_recorded_output_equals_the_reference_computation(resnet101):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    got = Recorder(resnet101, "cpu").record_one(["layer1"], x).outputs["layer1"]
    with torch.inference_mode():
        m = resnet101
        ref = m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x)))))
    assert torch.equal(got, ref)


def test_copy_is_taken_before_the_inplace_relu(resnet101):
    """bn1 is followed by ReLU(inplace=True): a mere reference would lose the negatives."""
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    got = Recorder(resnet101, "cpu").record_one(["bn1"], x).outputs["bn1"]
    with torch.inference_mode():
        ref = resnet101.bn1(resnet101.conv1(x))
    assert (got < 0).any()
    assert torch.equal(got, ref)


def test_early_exit_runs_nothing_after_the_last_requested_layer(resnet101):
    ran = []
    handles = [m.register_forward_hook(lambda mod, i, o, n=name: ran.append(n))
               for name, m in resnet101.named_modules() if name]
    try:
        Recorder(resnet101, "cpu").record_one(["conv1"], torch.zeros(1, 3, 224, 224))
    finally:
        for h in handles:
            h.remove()
    assert ran == ["conv1"]


def test_hooks_are_removed_after_success_error_and_cancel(resnet101):
    rec = Recorder(resnet101, "cpu")
    before = _hook_counts(resnet101)
    rec.record_one(["layer2"], torch.zeros(1, 3, 64, 64))
    assert _hook_counts(resnet101) == before
    with pytest.raises(UnitscopeError):
        rec.record_one(["layer1.0.relu#4"], torch.zeros(1, 3, 64, 64))
    assert _hook_counts(resnet101) == before
    gen = rec.record(["layer1"], [torch.zeros(1, 3, 64, 64)] * 3, cancelled=lambda: True)
    with pytest.raises(Cancelled):
        next(gen)
    assert _hook_counts(resnet101) == before


def test_kth_call_of_a_module_called_several_times(resnet101):
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    out = Recorder(resnet101, "cpu").record_one(
        ["layer1.0.relu", "layer1.0.relu#2", "layer1.0.relu#3", "layer1.0"], x).outputs
    assert out["layer1.0.relu"].shape[1] == 64
    assert out["layer1.0.relu#2"].shape[1] == 64
    # The third call is the block's final relu: exactly the block's output.
    assert torch.equal(out["layer1.0.relu#3"], out["layer1.0"])
    assert not torch.equal(out["layer1.0.relu"], out["layer1.0.relu#2"])


def test_missing_call_and_unknown_layer_are_clear_errors(resnet101):
    rec = Recorder(resnet101, "cpu")
    with pytest.raises(UnitscopeError, match=r"'layer1.0.relu#4' \(called 3 times\)"):
        rec.record_one(["layer1.0.relu#4"], torch.zeros(1, 3, 64, 64))
    with pytest.raises(UnitscopeError, match=r"Unknown layer 'layer5'. Did you mean layer"):
        rec.resolve(["layer5"])
    with pytest.raises(UnitscopeError, match="number from 1"):
        LayerRef.parse("conv1#0")


def test_streaming_yields_each_batch_and_equals_one_big_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)).eval()
    x = torch.randn(10, 3, 12, 12)
    rec = Recorder(net, "cpu")
    chunks = list(rec.record(["1", "2"], x.split(4)))
    assert [c.start for c in chunks] == [0, 4, 8]
    assert [c.size for c in chunks] == [4, 4, 2]
    whole = rec.record_one(["1", "2"], x).outputs
    for layer in ("1", "2"):
        assert torch.allclose(torch.cat([c.outputs[layer] for c in chunks]), whole[layer], atol=1e-6)


def test_cancel_between_batches_stops_after_the_current_one():
    net = nn.Sequential(nn.Conv2d(3, 2, 3)).eval()
    seen = []
    gen = Recorder(net, "cpu").record(["0"], [torch.zeros(1, 3, 8, 8)] * 5, cancelled=lambda: len(seen) >= 2)
    with pytest.raises(Cancelled):
        for chunk in gen:
            seen.append(chunk.index)
    assert seen == [0, 1]


def test_error_in_forward_leaves_no_hooks():
    class Raises(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)
            self.head = nn.Conv2d(2, 2, 1)

        def forward(self, x):
            x = self.conv(x)
            raise RuntimeError("boom")

    net = Raises()
    with pytest.raises(UnitscopeError, match="forward pass failed: RuntimeError: boom"):
        Recorder(net, "cpu").record_one(["head"], torch.zeros(1, 3, 8, 8))
    assert _hook_counts(net) == 0
