"""The property battery per layer: a simple cell, a complex cell and a surround-suppressed
cell planted in one layer are told apart; chunks do not change the answer; the command
streams a CSV and scores it against reference distributions."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from planted_units import gabor, grey, one_thread, planted_conv, session_for, write_factory  # noqa: F401
from torch import nn

from engine.analyses.properties import COLUMNS, PROPERTIES, choose_channels, property_battery
from engine.cli import main
from engine.jobs.properties import Properties
from engine.recording.recorder import Cancelled

SIZE = 64


class Cells(nn.Module):
    """Three cells from five filters: simple (ReLU), complex (quadrature energy), suppressed (ReLU)."""

    def forward(self, x):
        return torch.stack([torch.relu(x[:, 0]), torch.sqrt(x[:, 1] ** 2 + x[:, 2] ** 2 + 1e-12),
                            torch.relu(x[:, 3])], dim=1)


def _layer() -> nn.Module:
    centre, surround = gabor(0, 8, 3), gabor(0, 8, 8)
    filters = [gabor(45, 8, 4), gabor(120, 8, 4), gabor(120, 8, 4, phase=-math.pi / 2),
               centre - 0.6 * surround * np.abs(centre).sum() / np.abs(surround).sum()]
    return nn.Sequential(planted_conv([grey(f) for f in filters]), Cells())


def _by_channel(rows):
    return {row[1]: dict(zip(COLUMNS, row)) for row in rows}


def test_battery_tells_simple_complex_and_suppressed_cells_apart():
    session = session_for(_layer(), SIZE)
    snaps = list(session.run(Properties("1", phases=8)))
    final = snaps[-1]
    assert final.done == final.total and final.n_units == 3 and final.columns == list(COLUMNS)
    assert [len(s.rows) for s in snaps[:-1]] == [0] * (len(snaps) - 1)  # rows come when the chunk is done
    cells = _by_channel(final.rows)
    simple, complex_, suppressed = cells[0], cells[1], cells[2]
    assert simple["preferred_orientation_deg"] == pytest.approx(45, abs=7.5)
    assert complex_["preferred_orientation_deg"] == pytest.approx(120, abs=7.5)
    assert simple["modulation_ratio"] == pytest.approx(math.pi / 2, rel=0.1)  # half-wave rectified cosine
    assert complex_["modulation_ratio"] < 0.1
    assert suppressed["surround_suppression_index"] > 0.3 and simple["surround_suppression_index"] < 0.1
    assert final.rf["rf_side"] is None  # the anatomy has no field for Cells: SF in cycles per image
    for cell in (simple, complex_):  # (full-field gratings meet the suppressed cell's surround too)
        assert cell["peak_sf"] == pytest.approx(SIZE / 8)  # wavelength 8 px
    for cell in cells.values():
        assert cell["circular_variance"] < 0.6 and cell["orthogonal_preferred_ratio"] < 0.3
        assert cell["response_magnitude"] > 0 and (cell["y"], cell["x"]) == (17, 17)


def test_chunks_of_channels_give_the_same_rows_and_the_battery_can_be_cancelled():
    session = session_for(_layer(), SIZE)
    small = dict(orientations=6, sfs=(2.0, 4.0), phases=4, size_phases=2)
    one = list(property_battery(session.recorder, session.anatomy, session.preprocess, "1", [0, 1, 2],
                                chunk=1, **small))[-1]
    three = list(property_battery(session.recorder, session.anatomy, session.preprocess, "1", [0, 1, 2],
                                  chunk=3, **small))[-1]
    assert one.total == 3 * three.total
    np.testing.assert_allclose(np.array([r[4:] for r in one.rows], float),
                               np.array([r[4:] for r in three.rows], float), rtol=1e-9, equal_nan=True)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        list(property_battery(session.recorder, session.anatomy, session.preprocess, "1", [0, 1, 2],
                              cancelled=lambda: next(calls) >= 3, **small))
    assert choose_channels(10, None) == list(range(10)) and choose_channels(10, 3) == [0, 4, 9]


def _ks(a, b):
    """Two-sample KS statistic by hand: the largest gap between the empirical CDFs."""
    points = np.concatenate([a, b])
    return max(abs(np.mean(np.asarray(a) <= p) - np.mean(np.asarray(b) <= p)) for p in points)


def test_properties_command_streams_a_csv_and_scores_it_against_a_reference(tmp_path, capsys):
    spec = write_factory(tmp_path, """
        k = 15
        y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
        conv = nn.Conv2d(3, 3, k, stride=8)
        with torch.no_grad():
            for c, theta in enumerate((0.0, 60.0, 120.0)):
                u = x * math.cos(math.radians(theta)) + y * math.sin(math.radians(theta))
                g = np.exp(-(x**2 + y**2) / 18.0) * np.cos(2 * math.pi * u / 7.5)
                conv.weight[c] = torch.as_tensor(np.stack([g * s for s in (0.229, 0.224, 0.225)]))
            conv.bias.zero_()
        return nn.Sequential(conv, nn.ReLU())
        """)
    reference = tmp_path / "v1.csv"
    reference.write_text("modulation_ratio,circular_variance,notes\n0.2,0.5,a\n1.8,,b\n1.6,0.9,c\n")
    out = tmp_path / "props.csv"
    assert main(["properties", spec, "--layer", "1", "--units", "2", "--orientations", "6", "--phases", "4",
                 "--device", "cpu", "--reference", str(reference), "--out", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["channel"]) for r in rows] == [0, 2] and list(rows[0]) == list(COLUMNS)
    for row, planted in zip(rows, (0.0, 120.0)):
        error = abs(float(row["preferred_orientation_deg"]) - planted) % 180
        assert min(error, 180 - error) <= 15
    side = json.loads((tmp_path / "props.csv.json").read_text())
    model = [float(r["modulation_ratio"]) for r in rows]
    scores = side["similarity"]["properties"]
    assert scores["modulation_ratio"]["similarity"] == pytest.approx(1 - _ks(model, [0.2, 1.8, 1.6]))
    assert scores["circular_variance"]["n_reference"] == 2 and set(scores) == {"modulation_ratio", "circular_variance"}
    assert side["n_units"] == 2 and side["job"]["job"]["kind"] == "properties"
    assert "mean KS similarity" in capsys.readouterr().out
    assert not list(tmp_path.glob(".props.csv.partial"))
    with pytest.raises(SystemExit):
        main(["properties", spec, "--layer", "1", "--units", "0", "--out", str(tmp_path / "p2.csv")])
    bad = tmp_path / "bad.csv"
    bad.write_text("colour\n1\n")
    assert main(["properties", spec, "--layer", "1", "--reference", str(bad), "--out", str(tmp_path / "p3.csv")]) == 2
    assert "has no column named as a property" in capsys.readouterr().err
    assert set(PROPERTIES) <= set(COLUMNS)
