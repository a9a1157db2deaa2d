"""The property battery per layer: a simple cell, a complex cell and a surround-suppressed
cell planted in one layer are told apart; the one-pass battery equals each unit's tuning
recorded on its own (run_tuning), on planted cells and on ResNet-18; full-field size
stimuli are taken from the orientation x SF grid; the fits recover planted von Mises and
log-Gaussian units the grid misreads; the command streams a CSV and scores it against
reference distributions."""

import csv
import json
import math

import numpy as np
import pytest
import torch
import torchvision
from planted_units import (  # noqa: F401
    GABOR_FACTORY,
    GratingReader,
    gabor,
    grey,
    one_thread,
    planted_conv,
    session_for,
    write_factory,
)
from torch import nn

from engine.analyses.battery import STAGES, ProtocolStimuli, choose_channels, grid_twins, property_battery
from engine.analyses.properties import COLUMNS, FITTED, PROPERTIES, curve, modulation_ratio, size_metrics
from engine.analyses.tuning import orientation_metrics, run_tuning, sf_metrics
from engine.analyses.units import Unit, unit_geometry
from engine.stimuli.protocols import Protocol
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
    assert [len(s.rows) for s in snaps[:-1]] == [0] * (len(snaps) - 1)  # rows come when the battery is done
    assert final.preview == final.rows and [s[0] for s in final.stages] == list(STAGES)
    assert final.stages[0][2] == 12 * 4  # 12 orientations at the middle SF, 4 of the 8 phases first
    assert all(recorded == total for _, recorded, total in final.stages)
    assert final.total == sum(total for _, _, total in final.stages) == final.done
    # a preview after each protocol: orientation first, then SF, then surround suppression
    after = {}
    for before, snap in zip(snaps, snaps[1:]):
        if len(snap.preview) == 3 and snap.stage != before.stage:
            after[before.stage] = _by_channel(snap.preview)
    assert list(after) == list(STAGES) and after["size"] == _by_channel(final.rows)
    first, second = after["orientation"], after["spatial frequency"]
    assert first[0]["preferred_orientation_deg"] == pytest.approx(45, abs=7.5)
    assert all(math.isnan(first[c][p]) for c in first for p in ("peak_sf", "surround_suppression_index", *FITTED))
    assert all(math.isfinite(second[c]["peak_sf"]) and math.isnan(second[c]["surround_suppression_index"])
               for c in second)
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


def _reference(session, layer, channels, orientations, sfs, phases, size_phases):
    """Each unit's properties as the battery defines them, from run_tuning on the whole grid and
    on the size protocol (every stimulus recorded, none reused), computed here from the curves."""
    geometry = unit_geometry(session.anatomy, Unit(layer, channels[0]))
    units = [Unit(layer, c, geometry.unit.y, geometry.unit.x) for c in channels]
    sf_key = "sf_rf" if geometry.side else "sf"
    where = dict(center=geometry.center, rf_side=geometry.side)
    size = session.preprocess.crop_size
    grid = Protocol("gratings", size, {"orientation": 180.0 * np.arange(orientations) / orientations,
                                       sf_key: np.asarray(sfs, float)}, phases=phases, **where)
    table = run_tuning(session.recorder, units, grid, session.preprocess, batch_size=20)
    found = []
    for u in range(len(units)):
        ori = table.curve("orientation", "f0", u)
        o = orientation_metrics(ori.values, ori.responses)
        sfc = table.curve(sf_key, "f0", u)
        s = sf_metrics(sfc.values, sfc.responses)
        found.append({"preferred_orientation_deg": o.preferred_deg, "circular_variance": o.circular_variance,
                      "orientation_bandwidth_deg": o.bandwidth_deg,
                      "orthogonal_preferred_ratio": o.r_orth / o.r_pref if o.r_pref > 0 else math.nan,
                      "peak_sf": s.preferred, "sf_bandwidth_octaves": s.bandwidth_octaves,
                      "modulation_ratio": modulation_ratio(*table.table(u)),
                      "response_magnitude": float(np.nanmax(table.measure("f0")[:, u])),
                      "preferred_orientation_fit_deg": o.preferred_fit_deg,
                      "orientation_bandwidth_fit_deg": o.bandwidth_fit_deg,
                      "peak_sf_fit": s.preferred_fit, "sf_bandwidth_fit_octaves": s.bandwidth_fit_octaves})
    peaks = [f["peak_sf"] for f in found if math.isfinite(f["peak_sf"])]
    sf = sfs[int(np.argmin(np.abs(np.log2(sfs) - np.log2(np.median(peaks)))))]
    sizes = Protocol("size", size, {"orientation": grid.axes["orientation"], sf_key: sf}, phases=size_phases, **where)
    size_table = run_tuning(session.recorder, units, sizes, session.preprocess, batch_size=20)
    for u, f in enumerate(found):
        f["surround_suppression_index"] = size_metrics(*curve(*size_table.table(u), "radius")[:2])[
            "surround_suppression_index"]
    return [[f[p] for p in PROPERTIES + FITTED] for f in found], grid, sizes


def _assert_same(battery_rows, reference_rows):
    np.testing.assert_allclose(np.array([r[4:] for r in battery_rows], float), np.array(reference_rows, float),
                               rtol=1e-5, atol=1e-6, equal_nan=True)


def test_the_one_pass_battery_equals_each_unit_recorded_on_its_own_and_reuses_full_field_stimuli():
    session = session_for(_layer(), SIZE)
    small = dict(orientations=6, sfs=(2.0, 4.0, 8.0), phases=4, size_phases=2)
    snaps = list(property_battery(session.recorder, session.anatomy, session.preprocess, "1", [0, 1, 2], **small))
    reference, grid, sizes = _reference(session, "1", [0, 1, 2], **small)
    _assert_same(snaps[-1].rows, reference)
    # the layer has no field, so radii reach the image side: the largest apertures hold every
    # pixel and those stimuli are the grid's full-field gratings, taken from it, not recorded again
    twins = grid_twins(sizes, grid)
    reused = np.flatnonzero(twins >= 0)
    assert 0 < reused.size < len(sizes)
    for i in reused:
        np.testing.assert_array_equal(sizes.stimulus(i)[1], grid.stimulus(twins[i])[1])
    outside = np.flatnonzero(twins < 0)
    assert not np.array_equal(sizes.stimulus(outside[-1])[1],
                              grid.stimulus((outside[-1] // 2) % 6 * 3 * 4)[1])  # a smaller aperture is not
    assert snaps[-1].total == len(grid) + len(sizes) - reused.size == snaps[-1].done
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        list(property_battery(session.recorder, session.anatomy, session.preprocess, "1", [0, 1, 2],
                              cancelled=lambda: next(calls) >= 3, **small))
    assert choose_channels(10, None) == list(range(10)) and choose_channels(10, 3) == [0, 4, 9]


def test_the_battery_on_resnet18_layer1_equals_run_tuning_unit_by_unit():
    torch.manual_seed(0)
    session = session_for(torchvision.models.resnet18(), SIZE)
    small = dict(orientations=6, sfs=(1.0, 2.0, 4.0), phases=8, size_phases=2)  # 4 phases first, 4 later
    channels = [3, 17, 40, 62]
    final = list(property_battery(session.recorder, session.anatomy, session.preprocess, "layer1", channels,
                                  batch_size=24, **small))[-1]
    reference, grid, sizes = _reference(session, "layer1", channels, **small)
    assert final.rf["rf_side"] > 0 and not (grid_twins(sizes, grid) >= 0).any()  # 43 px field: nothing reused
    assert final.total == len(grid) + len(sizes)
    _assert_same(final.rows, reference)
    assert np.isfinite(np.array([r[4:] for r in final.rows], float)[:, :4]).all()


def test_fits_recover_planted_von_mises_and_log_gaussian_units_that_the_grid_misreads():
    """Units whose tuning is exactly vonMises(orientation) x logGaussian(SF) (GratingReader reads
    each grating's orientation and SF from the image): the fits give the planted preferred values
    and bandwidths, the 15-degree / octave grid does not."""
    planted = [(37.5, 4.0, 2**1.3, 0.9), (100.0, 10.0, 1.5, 1.5), (157.5, 6.0, 3.0, 2.0)]
    session = session_for(nn.Sequential(GratingReader(planted)), SIZE)
    final = list(session.run(Properties("0", phases=4, size_phases=1)))[-1]
    for (mu, kappa, sf0, fwhm), row in zip(planted, final.rows):
        cell = dict(zip(COLUMNS, row))
        bandwidth = 0.5 * math.degrees(math.acos(1 + math.log(1 / math.sqrt(2)) / kappa))
        error = (cell["preferred_orientation_fit_deg"] - mu + 90) % 180 - 90
        assert abs(error) < 0.01
        assert cell["orientation_bandwidth_fit_deg"] == pytest.approx(bandwidth, abs=0.02)
        assert cell["peak_sf_fit"] == pytest.approx(sf0, rel=1e-3)
        assert cell["sf_bandwidth_fit_octaves"] == pytest.approx(fwhm, abs=0.005)
        assert abs(cell["orientation_bandwidth_deg"] - bandwidth) > 0.9  # the grid's reading is off
        assert abs(cell["sf_bandwidth_octaves"] - fwhm) > 0.1
    first = dict(zip(COLUMNS, final.rows[0]))
    assert first["sf_bandwidth_octaves"] == pytest.approx(1.17, abs=0.01)  # ~0.9 octaves read as ~1.1
    second = dict(zip(COLUMNS, final.rows[1]))
    assert abs(second["preferred_orientation_deg"] - 100) > 1 and abs(second["peak_sf"] - 1.5) > 0.05


def test_protocol_stimuli_are_the_protocols_own_batches_in_the_order_asked():
    session = session_for(_layer(), SIZE)
    protocol = Protocol("gratings", SIZE, {"orientation": [0.0, 45.0, 90.0], "sf": [2.0, 4.0]}, phases=4)
    order = np.array([5, 0, 17, 3, 22])
    whole = torch.cat([b.inputs for b in protocol.batches(session.preprocess, 7)])
    for channels_last in (False, True):
        got = list(ProtocolStimuli(protocol, order, channels_last).batches(session.preprocess, 2))
        assert torch.equal(torch.cat([b.inputs for b in got]), whole[order])  # bit for bit
        layout = torch.channels_last if channels_last else torch.contiguous_format
        assert all(b.inputs.is_contiguous(memory_format=layout) for b in got)
        np.testing.assert_array_equal(np.concatenate([b.condition for b in got]), order // 4)
        np.testing.assert_array_equal(np.concatenate([b.phase for b in got]), protocol.phases[order % 4])
        assert [b.start for b in got] == [0, 2, 4]


def _ks(a, b):
    """Two-sample KS statistic by hand: the largest gap between the empirical CDFs."""
    points = np.concatenate([a, b])
    return max(abs(np.mean(np.asarray(a) <= p) - np.mean(np.asarray(b) <= p)) for p in points)


def test_properties_command_streams_a_csv_and_scores_it_against_a_reference(tmp_path, capsys):
    spec = write_factory(tmp_path, GABOR_FACTORY)
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
