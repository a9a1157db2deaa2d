"""Swin's stages return (N, H, W, C): the window shows their channels, not their rows.

``features.1.0`` of swin_t is 96 channels of a 56 x 56 token grid; before, the mosaic read it
as 56 "channels" of 56 x 96.  The tiles must be the channels of a plain cloning hook's output.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.session.session import Session
from engine.session.values import ModelSpec
from gui.window.main_window import MainWindow, StartupChoices

LAYER = "features.1.0"


def test_a_swin_stage_is_shown_as_96_channels_of_56_by_56(qtbot):
    window = MainWindow(StartupChoices(model="swin_t", device="cpu", layer=LAYER))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.layer_shown, timeout=120000, check_params_cb=lambda layer: layer == LAYER):
        window.show()
    try:
        assert "96 channels, 56x56" in window.panel._info.text(), window.panel._info.text()
        recording = window.state.recording
        assert recording.values.shape == (96, 56, 56)  # what the panel and the unit view read out
        # the reference, in a session of its own (random weights of the same seed are bit-identical):
        # the module's own output for the same input, channels moved first
        session = Session.open(ModelSpec("swin_t", device="cpu"))
        x, _display = session.stimulus(recording.stimulus)
        module = dict(session.loaded.module.named_modules())[LAYER]
        seen = {}
        handle = module.register_forward_hook(lambda m, i, o: seen.setdefault("out", o.detach().clone()))
        with torch.no_grad():
            session.loaded.module(x[None] if x.dim() == 3 else x)
        handle.remove()
        assert seen["out"].shape == (1, 56, 56, 96)
        # (the window may run convolutions channels-last: equal up to float rounding)
        np.testing.assert_allclose(recording.values, seen["out"][0].permute(2, 0, 1).numpy(), rtol=1e-4, atol=1e-4)
    finally:
        window.close()


def test_the_layer_card_says_a_grid_last_shape_is_shown_channels_first(qtbot):
    from engine.anatomy.tree import build_anatomy
    from engine.models.zoo import build_zoo_model
    from gui.widgets.anatomy_card import AnatomyCard

    loaded = build_zoo_model("swin_t")
    anatomy = build_anatomy(loaded.module, loaded.input_size)
    card = AnatomyCard()
    qtbot.addWidget(card)
    card.show_node(anatomy.node("features.1.0"))
    assert card.values["Output shape"].text() == "56×56×96  (H×W×C; maps shown channels first)"
    card.show_node(anatomy.node("features.1.0.norm1"))  # a LayerNorm inside: its grid sits last too
    assert "channels first" in card.values["Output shape"].text()
    card.show_node(anatomy.node("avgpool"))
    assert card.values["Output shape"].text() == "768×1×1"
