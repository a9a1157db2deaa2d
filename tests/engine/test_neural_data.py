"""Neural responses in: every file format reads back to the matrix written, bad data gets one line."""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest
from planted_neurons import write_nwb
from scipy.io import savemat

from engine.errors import UnitscopeError
from engine.neural.readers import parse_window, read_responses
from engine.neural.responses import checked, match_images

STIMULI = ["cat.png", "dog.png", "car.png", "tree.png"]


def planted_counts(seed=0, stimuli=4, neurons=3, repeats=5):
    """Integer counts ``(stimuli, neurons, repeats)`` with the last stimulus shown one time fewer."""
    counts = np.random.default_rng(seed).integers(0, 6, size=(stimuli, neurons, repeats)).astype(float)
    counts[-1, :, -1] = np.nan
    return counts


def test_an_nwb_file_written_with_pynwb_reads_back_to_its_counts(tmp_path):
    counts = planted_counts()
    path = write_nwb(tmp_path / "session.nwb", counts, STIMULI)
    data = read_responses(path, parse_window("50:200"))
    assert sorted(data.stimuli) == sorted(STIMULI)  # in the order each is first shown
    rows = [STIMULI.index(s) for s in data.stimuli]
    assert data.neurons == ["0", "1", "2"]
    assert data.responses.shape == counts.shape
    np.testing.assert_array_equal(data.responses, counts[rows])  # NaN where the last stimulus was not shown


def test_nwb_window_counts_only_spikes_inside_it(tmp_path):
    counts = planted_counts()
    path = write_nwb(tmp_path / "session.nwb", counts, STIMULI)
    wide = read_responses(path, (0.0, 300.0))  # also the spikes at +10 ms and +220 ms
    rows = [STIMULI.index(s) for s in wide.stimuli]
    np.testing.assert_array_equal(wide.responses, counts[rows] + 2)


def test_nwb_without_presentations_is_one_line(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="x", identifier="x", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_unit(spike_times=[0.1, 0.2])
    with NWBHDF5IO(str(tmp_path / "x.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(UnitscopeError, match="no stimulus presentation intervals"):
        read_responses(tmp_path / "x.nwb")


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".mat"])
def test_array_files_read_back(tmp_path, suffix):
    counts = planted_counts(seed=3)
    path = tmp_path / f"r{suffix}"
    arrays = {"responses": counts, "stimuli": np.array(STIMULI), "neurons": np.array(["a", "b", "c"])}
    if suffix == ".npz":
        np.savez(path, **arrays)
    elif suffix == ".h5":
        with h5py.File(path, "w") as f:
            f["responses"] = counts
            f["stimuli"] = np.array(STIMULI, dtype="S")
            f["neurons"] = np.array(["a", "b", "c"], dtype=h5py.string_dtype())
    else:
        savemat(path, {"responses": counts, "stimuli": np.array(STIMULI, dtype=object),
                       "neurons": np.array(["a", "b", "c"], dtype=object)})
    data = read_responses(path)
    assert data.stimuli == STIMULI and data.neurons == ["a", "b", "c"]
    np.testing.assert_array_equal(data.responses, counts)


def test_two_dimensional_responses_have_one_repeat(tmp_path):
    np.savez(tmp_path / "r.npz", responses=np.arange(8.0).reshape(4, 2), stimuli=np.array(STIMULI))
    data = read_responses(tmp_path / "r.npz")
    assert data.responses.shape == (4, 2, 1)
    assert data.responses[3, 1, 0] == 7.0


def test_long_csv_reads_back(tmp_path):
    counts = planted_counts(seed=4)
    path = tmp_path / "r.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["neuron", "stimulus", "repeat", "response"])  # any column order
        for n in range(3):
            for s in range(4):
                for r in range(5):
                    if not np.isnan(counts[s, n, r]):
                        w.writerow([f"n{n}", STIMULI[s], r + 1, counts[s, n, r]])
    data = read_responses(path)
    assert data.stimuli == STIMULI and data.neurons == ["n0", "n1", "n2"]
    np.testing.assert_array_equal(data.responses, counts)


@pytest.mark.parametrize("make, message", [
    (lambda: checked(np.ones((4, 2, 3)), STIMULI[:3]), "3 stimulus names for 4 response rows"),
    (lambda: checked(np.ones((4, 2)), STIMULI, ["x"]), "1 neuron names for 2 neurons"),
    (lambda: checked(np.where(np.arange(8).reshape(4, 2) == 5, np.inf, 1.0), STIMULI),
     "non-finite value inf at stimulus 'car.png', neuron '1'"),
    (lambda: checked(np.c_[np.ones(4), np.full(4, np.nan)], STIMULI), "neuron\\(s\\) '1' have no response"),
    (lambda: checked(np.ones((4, 2)), ["a", "b", "a", "c"]), "stimulus 'a' names two rows"),
    (lambda: checked(np.ones((2, 2, 2, 2)), ["a", "b"]), "must be stimuli x neurons"),
])
def test_bad_data_is_one_line(make, message):
    with pytest.raises(UnitscopeError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_stimuli_are_matched_to_images_by_name_stem_or_path(tmp_path):
    paths = [tmp_path / "a" / "cat.png", tmp_path / "b" / "dog.jpg", tmp_path / "car.png", tmp_path / "tree.png"]
    data = checked(np.ones((4, 1)), ["cat.png", "dog", "car.png", "tree"])
    assert match_images(data, paths[::-1]) == paths
    with pytest.raises(UnitscopeError, match="1 stimulus\\(es\\) match no image: 'tree'"):
        match_images(data, paths[:3])


def test_file_problems_are_one_line(tmp_path):
    np.savez(tmp_path / "r.npz", responses=np.ones((2, 2)))
    with pytest.raises(UnitscopeError, match="has no array 'stimuli'"):
        read_responses(tmp_path / "r.npz")
    with pytest.raises(UnitscopeError, match="--window counts spikes in NWB files"):
        read_responses(tmp_path / "r.npz", (50, 200))
    (tmp_path / "r.csv").write_text("stim,neuron,response\n")
    with pytest.raises(UnitscopeError, match="missing: stimulus"):
        read_responses(tmp_path / "r.csv")
    (tmp_path / "s.csv").write_text("stimulus,neuron,response\na,1,x\n")
    with pytest.raises(UnitscopeError, match="line 2: response 'x' is not a number"):
        read_responses(tmp_path / "s.csv")
    with pytest.raises(UnitscopeError, match="must end after it starts"):
        parse_window("200:50")
    with pytest.raises(UnitscopeError, match="unknown type '.txt'"):
        read_responses(tmp_path / "r.txt")
