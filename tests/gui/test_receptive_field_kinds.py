"""The layer card and the unit view say the same about a field that is more than a box:
ViT's global token grid, a squeeze-excitation gate, Swin's windows; the card's notes whole."""

from __future__ import annotations

import pytest
import torchvision
from PySide6.QtCore import QRectF

from engine.anatomy.receptive_field import GLOBAL_NOTE, WINDOW_NOTE
from engine.anatomy.tree import build_anatomy
from gui.widgets.anatomy_card import AnatomyCard
from gui.window.window_settings import scrolling


def test_vit_tokens_have_the_cards_field_in_the_unit_view(open_window, qtbot):
    layer = "encoder.layers.encoder_layer_5"
    window = open_window(wait_for=layer, model="vit_b_16", layer=layer)
    assert window.recording.kind == "tokens"
    assert window.card.values["Receptive field"].text() == "224 px, global"
    readout = window.unit_view._readout.text()
    assert "no receptive field" not in readout
    assert "receptive field rows 0..223, columns 0..223 (224x224 px)" in readout
    assert "global attention: every unit sees the whole image" in readout
    assert window.unit_view.rf_box_rect() == QRectF(0, 0, 224, 224)  # the box drawn is the whole input
    # The 14x14 tokens are ViT's 16 px patches: the map tiles the input from its corner.
    assert window.unit_view._overlay.mapRectToParent(window.unit_view._overlay.boundingRect()) == QRectF(0, 0, 224, 224)
    window.unit_view.set_position(2, 3)
    assert window.unit_view._cell.rect() == QRectF(48, 32, 16, 16)  # token (2, 3): rows 32..47, columns 48..63
    # The unit the analyses measure is that token's channel (the views read it from the context).
    from engine.recording.unit import Unit

    assert window.context.unit == Unit(layer, window.state.unit_channel, 2, 3)
    assert window.views["tuning"].context.unit_position == (2, 3)


def test_a_gated_unit_says_the_box_is_the_convolutional_path(open_window, qtbot):
    window = open_window(wait_for="features.2.0", model="efficientnet_b0", layer="features.2.0")
    assert window.card.values["Receptive field"].text().endswith(", gated")
    readout = window.unit_view._readout.text()
    assert ("the box is the convolutional path; a squeeze-excitation gate that sees the whole image "
            "scales this channel") in readout
    size = window.card.values["Receptive field"].text().split(" px")[0]
    assert f"({size}x{size} px)" in readout  # the same box as the card's


@pytest.mark.parametrize("model, layer, note", [("vit_b_16", "encoder.layers.encoder_layer_5", GLOBAL_NOTE),
                                                 ("swin_t", "features.1.0", WINDOW_NOTE)])
def test_the_cards_notes_are_shown_whole_in_a_narrow_dock(qtbot, model, layer, note):
    anatomy = build_anatomy(getattr(torchvision.models, model)(weights=None).eval(), (224, 224))
    anatomy.cache_texts()
    card = AnatomyCard()
    area = scrolling(card)
    qtbot.addWidget(area)
    area.resize(406, 290)  # the card dock at 1366x768
    area.show()
    qtbot.waitExposed(area)
    node = anatomy.by_name[layer]
    card.show_node(node, 1, anatomy.total_params, layer)
    notes = card.values["Notes"]
    qtbot.waitUntil(lambda: notes.height() >= notes.heightForWidth(notes.width()), timeout=2000)
    assert notes.text().startswith(note)
    lines = notes.heightForWidth(notes.width()) // notes.fontMetrics().lineSpacing()
    assert lines >= 2  # it wraps at this width, and every line is on show
    assert notes.height() >= notes.heightForWidth(notes.width())
