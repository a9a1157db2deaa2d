"""Every torchvision classification model, as its DEFAULT weights build it, against the
figures torchvision publishes in that weights entry: parameters (``meta["num_params"]``)
and MACs (``meta["_ops"]``, GFLOPs to 3 decimals, counted as multiply-accumulates); and
no layer whose grid the receptive-field tracker lost.

Models are built on the meta device (no memory, no initialisation) and measured with one
forward pass of meta tensors (no arithmetic), so the 80 models take about a minute.
"""

import pytest
import torch
import torchvision

from engine.anatomy.tree import build_anatomy
from engine.models import zoo


def test_every_torchvision_model_matches_its_published_params_and_macs():
    mismatches, lost = [], []
    names = zoo.model_names()
    assert len(names) == len(torchvision.models.list_models(module=torchvision.models)) >= 80
    for name in names:
        meta = zoo.default_weights_entry(name).meta
        model = zoo.build_architecture(name, meta=True)
        anatomy = build_anatomy(model, zoo._input_size(zoo.default_weights_entry(name)))
        assert anatomy.device == "meta", (name, anatomy.notes)
        gmacs = round(anatomy.total_macs / 1e9, 3)
        if anatomy.total_params != meta["num_params"] or gmacs != meta["_ops"]:
            mismatches.append((name, anatomy.total_params, meta["num_params"], gmacs, meta["_ops"]))
        # Own MACs over the tree add up to the total: every op is counted once.
        assert sum(node.macs for node in anatomy.nodes()) == anatomy.total_macs
        lost += [(name, node.name) for node in anatomy.nodes() for call in node.calls if call.kind == "unknown"]
    assert mismatches == []
    assert lost == []


@pytest.mark.parametrize(("name", "total", "gmacs"), [
    ("googlenet", 6_624_904, 1.498),  # transform_input, no auxiliary heads
    ("inception_v3", 27_161_264, 5.713),  # transform_input, keeps its auxiliary head
    ("vit_h_14", 633_470_440, 1016.717),  # 518 px, as IMAGENET1K_SWAG_E2E_V1
])
def test_random_weights_build_the_default_weights_architecture(name, total, gmacs):
    model = zoo.build_architecture(name, meta=True)
    assert sum(p.numel() for p in model.parameters()) == total
    assert zoo.architecture_kwargs(name).get("init_weights", True)
    anatomy = build_anatomy(model, zoo._input_size(zoo.default_weights_entry(name)))
    assert round(anatomy.total_macs / 1e9, 3) == gmacs
    assert next(iter(anatomy.nodes())).output_shape == (1, 1000)


def test_build_architecture_on_the_cpu_has_random_weights():
    torch.manual_seed(0)
    model = zoo.build_architecture("googlenet")
    assert model.transform_input and model.aux1 is None
    assert model.conv1.conv.weight.device.type == "cpu" and model.conv1.conv.weight.std() > 0
