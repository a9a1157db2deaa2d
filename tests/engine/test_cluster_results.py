"""A finished sharded job's results as the window's snapshots, against the window's own jobs.

References are computed apart from the store: the ``topk`` and ``population`` jobs and a
single-process ``summaries`` run over the same images, and the tuning table the ``tuning``
job streams (:func:`engine.analyses.tuning.run_tuning`) over the same protocol.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.analyses.population import pca_of
from engine.analyses.similarity import rdm_of
from engine.analyses.tuning import run_tuning
from engine.analyses.units import Unit, unit_geometry
from engine.cluster.merged import reduction
from engine.cluster.plan import canonical_job, prepare
from engine.cluster.results import (
    ClusterPopulation,
    ClusterTopImages,
    open_results,
    population_result,
    topk_result,
    tuning_job,
    tuning_result,
)
from engine.cluster.shard import run_shard
from engine.cluster.store import JobStore
from engine.errors import UnitscopeError
from engine.jobs.population import Population
from engine.jobs.protocol_responses import ProtocolSnapshot
from engine.jobs.summaries import Summaries
from engine.jobs.topk import TopImages
from engine.jobs.tuning import TuningSnapshot
from engine.session.job import JobFile
from engine.session.session import Session
from engine.session.values import ModelSpec
from engine.stimuli.protocols import Protocol

FACTORY = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, stride=4)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 6, 3, stride=2)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        return self.relu2(self.conv2(self.relu1(self.conv1(x))))


def build():
    torch.manual_seed(5)
    return Net()
'''
N_IMAGES = 22
BATCH = 4
GRATINGS = (("orientation", tuple(180.0 * i / 8 for i in range(8))), ("sf", (3.0, 6.0)))


def write_lab(root: Path) -> tuple[ModelSpec, list[str]]:
    """The factory file and ``N_IMAGES`` random images (written out of name order)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "net.py").write_text(FACTORY)
    rng = np.random.default_rng(11)
    paths = []
    for i in range(N_IMAGES):
        path = root / "images" / f"im{(i * 7) % N_IMAGES:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return ModelSpec(f"{root / 'net.py'}:build", device="cpu"), paths


def finished(job_dir: Path, job_file: JobFile, session, shards=(0, 1)) -> JobStore:
    prepare(job_dir, job_file, 2, session)
    for s in shards:
        run_shard(job_dir, s)
    return JobStore(job_dir)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    model, paths = write_lab(root)
    session = Session.open(model)
    images = canonical_job(JobFile(model, Summaries(("conv1", "relu2"), tuple(paths),
                                                    summaries=("mean", "centre", "project:12"), k=4,
                                                    batch_size=BATCH)))
    gratings = JobFile(model, Summaries(("relu2",), protocol="gratings", params=GRATINGS, phases=4,
                                        summaries=("centre", "mean"), k=3, batch_size=16))
    contrast = JobFile(model, Summaries(("relu2",), protocol="contrast", params=(("sf", (4.0,)),), phases=4,
                                        summaries=("centre",), k=3, batch_size=12))
    return {"root": root, "model": model, "session": session, "images": images,
            "image_store": finished(root / "images_job", images, session),
            "gratings": gratings, "gratings_store": finished(root / "gratings_job", gratings, session),
            "contrast_store": finished(root / "contrast_job", contrast, session)}


@pytest.mark.parametrize("layer, channel", [("conv1", 0), ("conv1", 5), ("relu2", 3)])
def test_topk_equals_one_process_summaries_and_the_topk_job(lab, layer, channel):
    session, job = lab["session"], lab["images"].job
    snapshot = topk_result(lab["image_store"], layer, channel, session)
    # the single-process summaries run's extremes: the same stimuli, exactly
    single = list(session.run(job))[-1].extremes[layer]
    names = [Path(job.images[i]).name for i in single["top_indices"][channel]]
    assert snapshot.top_names == names
    assert snapshot.bottom_names == [Path(job.images[i]).name for i in single["bottom_indices"][channel]]
    assert np.array_equal(snapshot.top_values, single["top_values"][channel])
    # the window's topk job over the same images: names, responses and crops
    window = session.result(TopImages(layer, channel, paths=job.images, k=4))
    assert snapshot.top_names == window.top_names and snapshot.bottom_names == window.bottom_names
    np.testing.assert_allclose(snapshot.top_values, window.top_values, rtol=1e-6)
    np.testing.assert_allclose(snapshot.bottom_values, window.bottom_values, rtol=1e-6)
    assert snapshot.unit_label == window.unit_label and snapshot.box == window.box
    for ours, theirs in zip(snapshot.top_crops + snapshot.bottom_crops, window.top_crops + window.bottom_crops):
        assert np.array_equal(ours, theirs)
    assert snapshot.done == snapshot.total == N_IMAGES


def test_tuning_equals_the_tuning_table_of_the_same_protocol(lab):
    session, store = lab["session"], lab["gratings_store"]
    for channel in (0, 4):
        snapshot = tuning_result(store, "relu2", channel, session.preprocess.crop_size)
        assert isinstance(snapshot, TuningSnapshot) and snapshot.param == "orientation"
        protocol = Protocol("gratings", session.preprocess.crop_size, {n: np.array(v) for n, v in GRATINGS},
                            phases=4)
        table = run_tuning(session.recorder, Unit("relu2", channel), protocol, session.preprocess, 16)
        f0 = table.curve("orientation", "f0")
        assert np.array_equal(snapshot.values, np.arange(8) * 22.5)
        np.testing.assert_allclose(snapshot.f0, f0.responses, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(snapshot.f1, table.curve("orientation", "f1", at=f0.fixed).responses,
                                   rtol=1e-5, atol=1e-6)
        assert snapshot.metrics["orientation"]["at"] == table.metrics("f0")["orientation"]["at"]
        assert np.isclose(snapshot.metrics["orientation"]["osi"], table.metrics("f0")["orientation"]["osi"],
                          rtol=1e-5, equal_nan=True)
        assert snapshot.done == snapshot.total == len(protocol) == 64
        assert snapshot.unit_label == unit_geometry(session.anatomy, Unit("relu2", channel)).unit.label
        assert snapshot.unit_label.endswith("(13,13)")  # the centre of relu2's 27x27 map
    assert np.all(np.isfinite(snapshot.f0)) and np.ptp(snapshot.f0) > 0  # a real curve


def test_battery_protocol_gives_the_protocol_table(lab):
    session = lab["session"]
    snapshot = tuning_result(lab["contrast_store"], "relu2", 2, session.preprocess.crop_size)
    assert isinstance(snapshot, ProtocolSnapshot)
    protocol = Protocol("contrast", session.preprocess.crop_size, {"sf": np.array([4.0])}, phases=4)
    header, rows = run_tuning(session.recorder, Unit("relu2", 2), protocol, session.preprocess, 12).table()
    assert snapshot.columns == header and len(snapshot.rows) == len(rows) == 13
    np.testing.assert_allclose(np.array(snapshot.rows, float), np.array(rows, float), rtol=1e-5, atol=1e-7)


def test_tuning_job_picks_the_view_the_protocol_needs(lab):
    results = open_results(lab["root"] / "gratings_job")
    job = tuning_job(results, "relu2", 1)
    assert (job.kind, job.param, job.orientations, job.sf, job.phases) == ("cluster_tuning", "orientation", 8,
                                                                           (), 4)
    assert tuning_job(open_results(lab["root"] / "contrast_job"), "relu2", 1).kind == "cluster_protocol"
    with pytest.raises(UnitscopeError, match="image files, not a protocol"):
        tuning_result(lab["image_store"], "relu2", 0, 64)


@pytest.mark.parametrize("name", ["mean", "project:12"])
def test_population_rdm_equals_the_merged_array_s(lab, name):
    snapshot = population_result(lab["image_store"], "relu2", name)
    rows = reduction(lab["image_store"], "relu2", name).astype(float)
    assert np.array_equal(snapshot.rdm, rdm_of(rows))
    np.testing.assert_allclose(snapshot.explained, pca_of(rows).explained_variance_ratio, rtol=1e-10)
    assert snapshot.labels == [Path(p).name for p in lab["images"].job.images]
    assert snapshot.n_units == (6 if name == "mean" else 12) and snapshot.done == N_IMAGES
    if name == "mean":  # the window's population job, channel means of the same images
        window = lab["session"].result(Population("relu2", "images", lab["images"].job.images, "channels"))
        np.testing.assert_allclose(snapshot.rdm, window.rdm, atol=1e-5)
        assert snapshot.view == window.view == "channels"


def test_population_of_a_protocol_is_coloured_by_orientation(lab):
    session = lab["session"]
    snapshot = population_result(lab["gratings_store"], "relu2", "centre", session.preprocess.crop_size)
    assert snapshot.stimuli == "gratings" and len(snapshot.labels) == 64
    assert np.array_equal(snapshot.groups, np.repeat(np.arange(8) * 22.5, 8))
    assert snapshot.labels[5] == "orientation 0, sf 6, phase 90"


def test_jobs_run_in_a_session_and_name_another_model(lab):
    session = lab["session"]
    job = ClusterTopImages("relu2", 3, k=4, job_dir=str(lab["root"] / "images_job"))
    ours = list(session.run(job))[-1]
    assert ours.top_names == topk_result(lab["image_store"], "relu2", 3, session).top_names
    assert "results of" not in ours.unit_label
    other = Session.open(replace(lab["model"], seed=9))  # another model for the window
    try:
        theirs = list(other.run(job))[-1]
        assert theirs.unit_label.endswith(f"results of {lab['model'].spec} (seed 0 if random)")
        assert theirs.top_names == ours.top_names  # crops cut by the job's model, opened for them
        assert all(np.array_equal(a, b) for a, b in zip(theirs.top_crops, ours.top_crops))
        rdm = list(other.run(ClusterPopulation("relu2", job_dir=job.job_dir, reduction="mean")))[-1].rdm
        assert np.array_equal(rdm, population_result(lab["image_store"], "relu2", "mean").rdm)
    finally:
        other.close()


def test_unfinished_job_and_other_folders_are_refused_in_one_line(lab, tmp_path):
    finished(tmp_path / "half", lab["images"], lab["session"], shards=(1,))
    with pytest.raises(UnitscopeError) as info:
        open_results(tmp_path / "half")
    assert str(info.value).count("\n") == 0 and "shard(s) 0 of 2 not done" in str(info.value)
    with pytest.raises(UnitscopeError, match="is not a sharded job folder"):
        open_results(tmp_path)
    with pytest.raises(UnitscopeError, match="has no layer 'fc'"):
        topk_result(lab["image_store"], "fc", 0, lab["session"])
    with pytest.raises(UnitscopeError, match="channels 0–7, not 8"):
        topk_result(lab["image_store"], "conv1", 8, lab["session"])
