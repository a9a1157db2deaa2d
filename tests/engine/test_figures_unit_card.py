"""The unit card figure: every panel is titled in the PDF's text, and the visualisation is
embedded losslessly, pixel for pixel."""

import numpy as np
from pypdf import PdfReader

from engine.figures.data import FigureData
from engine.figures.render import write_figure
from engine.figures.style import FigureOptions
from engine.figures.unit_card import TITLES


def _card():
    rng = np.random.default_rng(0)
    visualisation = rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)  # a shape no other panel has
    arrays = {"visualisation": visualisation,
              "input_image": rng.uniform(0, 1, (32, 32, 3)), "evidence": rng.normal(size=(32, 32)),
              "rf": rng.uniform(0, 1, (32, 32)),
              "tuning_x": np.arange(0, 180, 15.0), "tuning_f0": rng.uniform(0, 1, 12),
              "tuning_f1": rng.uniform(0, 1, 12), "top_images": rng.uniform(0, 1, (4, 16, 16, 3))}
    meta = {"layer": "layer3.1", "channel": 5, "position": (7, 7), "rf_box": (4, 4, 27, 27),
            "tuning_metric": "preferred 30\u00b0", "activation": 2.5, "top_values": [3.0, 2.0, 1.0, 0.5]}
    return FigureData("unit_card", arrays, meta, provenance={"model": "resnet50", "random_seed": 0}), visualisation


def test_unit_card_pdf_names_its_panels_and_embeds_the_visualisation_exactly(tmp_path):
    data, visualisation = _card()
    out = write_figure(data, FigureOptions(width_mm=180), tmp_path / "card.pdf")
    page = PdfReader(out).pages[0]
    text = " ".join(page.extract_text().split())
    for needed in TITLES:
        assert needed in text, needed
    caption = (tmp_path / "card.pdf.caption.txt").read_text()
    for needed in ("resnet50", "layer3.1", "channel 5", "final activation 2.5", "responses 3, 2, 1, 0.5"):
        assert needed in caption, needed
    images = [x.get_object() for x in page["/Resources"]["/XObject"].values()
              if x.get_object()["/Subtype"] == "/Image"]
    # repeated nearest-neighbour by a whole factor to 300 ppi in print
    shaped = [np.asarray(x.decode_as_image().convert("RGB")) for x in images
              if int(x["/Height"]) % 24 == 0 and int(x["/Width"]) % 20 == 0
              and int(x["/Height"]) // 24 == int(x["/Width"]) // 20]
    assert len(shaped) == 1
    factor = shaped[0].shape[0] // 24
    assert factor > 1
    # matplotlib stores the rows bottom first (and flips them back when drawing)
    picture = shaped[0][::-1]
    assert np.array_equal(picture, np.repeat(np.repeat(visualisation, factor, axis=0), factor, axis=1))
