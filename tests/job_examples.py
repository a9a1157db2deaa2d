"""One job of every kind that comes with Unitscope, with unusual but valid values (shared by tests)."""

from engine.recording.unit import Unit
from engine.session.values import Stimulus
from engine.stimuli.procedural import PROCEDURAL

STIMULI = tuple(list(PROCEDURAL)[:3])


def built_in_examples():
    from engine.jobs.comparison import Compare
    from engine.jobs.evidence import EvidenceMaps
    from engine.jobs.population import Population
    from engine.jobs.predict import Predict
    from engine.jobs.probe import ProbePlay
    from engine.jobs.properties import Properties
    from engine.jobs.protocol_responses import ProtocolResponses
    from engine.jobs.rdm import LayerRDM
    from engine.jobs.receptive_field import ReceptiveFieldMapping
    from engine.jobs.record import Record
    from engine.jobs.record_images import RecordImages
    from engine.jobs.summaries import Summaries
    from engine.jobs.topk import TopImages
    from engine.jobs.topk_ranking import TopKRanking
    from engine.jobs.tuning import Tuning
    from engine.jobs.visualize import Visualize

    return [Record("layer1.0.relu#2", Stimulus("procedural", STIMULI[0])),
            Tuning("layer2", 5, 3, 4, param="sf", stimulus="gabors", sf=(0.5, 1.0, 2.0), orientation=45.0),
            Population("layer3", "images", ("/data/a.png", "/data/b ü.png"), "channels", 8),
            Compare("layer2", "layer4", "gratings", (), "centre"),
            TopImages("layer4", 7, None, None, ("/x/1.jpg",), 3),
            ProbePlay((Unit("layer1", 1), Unit("layer2", 2, 3, 4)), "strip", (("image", "/a.png"), ("procedural", "x"))),
            ReceptiveFieldMapping("conv1", 0, 5, 6, (("image", "/a.png"),), ("image", "/a.png"), 10, 4, 2, 7),
            ProtocolResponses("layer3", 9, None, 2, "gabors", (("orientation", (0.0, 90.0)), ("sf_rf", (1.5,))), 3),
            LayerRDM("layer4", ("/i/1.png", "/i/2.png"), "centre", 4, None),
            RecordImages(("conv1", "layer1.0.relu#2"), ("/i/1.png",), 8, 2),
            TopKRanking("layer3", ("/i/1.png", "/i/2.png"), (4, 7), 1, None, 3, 16, None),
            Visualize("layer3", 5, 2, 3, None, 64, 0.1, 7, 96, 2, 0.5, 4, (("image", "/a.png"),)),
            Visualize("layer4", None, direction=(0.5, -1.0, 2.0)),
            EvidenceMaps("layer2", 3, 1, 2, ("image", "/a ü.png"), ("gradient", "guided_backprop")),
            Properties("layer1", 16, 8, (1.0, 2.0), 4, 2, 8, 4),
            Summaries(("conv1", "layer2"), ("/i/1.png",), summaries=("mean", "project:8"), k=3, seed=2,
                      batch_size=4, start=4, stop=8),
            Predict("/d/r.nwb", ("/i/1.png", "/i/2 ü.png"), ("layer1", "layer2"), (50.0, 200.0), 4.5, 500, 100)]
