"""Figure 12: ``unitscope predict`` against recording alone and a hand-written scikit-learn loop.

The predict job records every stimulus once for all its layers and keeps only the projected
features (and a bounded sample of raw units) per layer; its recording is compared with the
record-images job (what ``unitscope record`` runs) on the same layers and images.  Its fits
(RidgeCV with alphas chosen in the training folds, bootstrap, RSA, CKA, best units) are
compared with a hand-written scikit-learn loop that fits only the ridge models on the same
features (KFold, StandardScaler, RidgeCV per fold).  Once per figure (``sharded_too``) the same
job also runs as ``unitscope submit --shards 2 --executor local --wait`` (each shard scoring
its layers in a process of its own), timed from a fresh interpreter, then is merged here and
compared with the one-process result.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.timing import Figure, repeat


def hand_ridge(features: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Held-out ridge predictions, as one writes them with scikit-learn."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty_like(y)
    for train, test in KFold(folds, shuffle=True, random_state=0).split(features):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 7, 19), alpha_per_target=True))
        pred[test] = model.fit(features[train], y[train]).predict(features[test])
    return pred


def sharded(folder: Path, model_name: str, job, shards: int = 2):
    """``unitscope submit`` the predict job in ``shards`` local processes from a fresh interpreter,
    then merge it here; returns the seconds of each and the merged result."""
    from engine.cluster.predict_merged import merged_result
    from engine.session.job import JobFile
    from engine.session.values import ModelSpec

    JobFile(ModelSpec(model_name, device="cpu"), job).save(folder / "predict.json")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "submit", str(folder / "predict.json"), "--out",
                    str(folder / "job"), "--shards", str(shards), "--executor", "local", "--wait"], check=True,
                   stdout=subprocess.DEVNULL)
    submitted = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = merged_result(folder / "job")[1]
    return submitted, time.perf_counter() - t0, result


def predictivity(repeats: int, model_name: str = "resnet50", n_images: int = 1000, n_neurons: int = 200,
                 n_repeats: int = 4, sharded_too: bool = True) -> Figure:
    from engine.analyses.stages import main_stages
    from engine.jobs.predict import Predict
    from engine.jobs.record_images import RecordImages
    from engine.session.session import Session
    from engine.session.values import ModelSpec

    session = Session.open(ModelSpec(model_name, device="cpu"))
    layers = tuple(main_stages(session.anatomy))
    fig = Figure("12", f"Neurons: `unitscope predict` on {model_name} ({len(layers)} layers: {', '.join(layers)}), "
                       f"{n_images} images × {n_neurons} neurons × {n_repeats} repeats, 5-fold CV "
                       "(targets: recording ≤ 1.1× `unitscope record`; fits ≤ 30 s)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        paths = []
        for i in range(n_images):
            paths.append(folder / f"im{i:04d}.png")
            Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(paths[-1])
        responses = rng.poisson(4.0, size=(n_images, n_neurons, n_repeats)).astype(float)
        np.savez(folder / "r.npz", responses=responses, stimuli=np.array([p.name for p in paths]))
        images = tuple(str(p) for p in paths)
        record = repeat(lambda: session.result(RecordImages(layers, images, 32, 0)), repeats, warmup=0)
        runs = []

        def predict():
            runs.append(session.result(Predict(str(folder / "r.npz"), images, layers, workers=0)))

        repeat(predict, repeats, warmup=0)
        rec = [r.seconds["recording"] for r in runs]
        fits = [sum(r.seconds[name] for name in layers) for r in runs]
        ratio = float(np.median(rec)) / record.median
        fig.add("predict: recording (all layers, one pass)",
                f"{np.median(rec):.2f} s ({min(rec):.2f}–{max(rec):.2f}, n={len(rec)})",
                f"record-images job {record.s()}", ratio <= 1.1)
        fig.add("recording ratio", f"{ratio:.2f}×", "target ≤ 1.1×", ratio <= 1.1)
        fig.add("predict: fits, all layers (ridge, bootstrap, RSA, CKA, best units)",
                f"{np.median(fits):.2f} s ({min(fits):.2f}–{max(fits):.2f}, n={len(fits)})", "target ≤ 30 s",
                float(np.median(fits)) <= 30)
        # the same projected features through a hand-written loop (ridge only)
        from engine.analyses.predictivity import Projection

        result = session.result(RecordImages(layers, images, 32, 0))
        feats = {}
        for name, v in result.outputs.items():
            flat = np.asarray(v).reshape(len(v), -1)
            feats[name] = Projection(flat.shape[1], 1000, 0)(flat)
        del result
        mean = responses.mean(axis=2)
        hand = repeat(lambda: [hand_ridge(f, mean) for f in feats.values()], repeats, warmup=0)
        fig.add("hand-written scikit-learn loop, ridge only, same features", hand.s(), "reference", None)
        ceiling = [r.seconds["ceiling"] for r in runs]
        fig.add("noise ceiling with bootstrap (once per run)", f"{np.median(ceiling):.2f} s", "", None)
        if sharded_too:
            seconds, merge, merged = sharded(folder, model_name, Predict(str(folder / "r.npz"), images, layers,
                                                                        workers=0))
            diff = float(np.nanmax(np.abs(merged.r - runs[-1].r)))
            fig.add("predict sharded: `unitscope submit --shards 2 --executor local --wait` (layers split; "
                    "interpreters, model and images included; n=1)", f"{seconds:.2f} s",
                    f"one process, in process: {np.median(rec) + np.median(fits):.2f} s (recording + fits)", None)
            fig.add("merging the shards' layers (hashes checked)", f"{merge:.2f} s", "", None)
            fig.add("sharded result against the one-process result", f"max |Δr| = {diff:.1e}",
                    "the same numbers (shards use 1 torch thread each here)", diff < 1e-4)
    width = max(int(runs[-1].n_features.max()), 1)
    units = int(runs[-1].n_units.max())
    fig.notes.append(f"Memory per layer is bounded by the projected features and the unit sample: "
                     f"{n_images} × ({width} + {units}) float32 = "
                     f"{n_images * (width + units) * 4 / 2**20:.0f} MiB at most, not the raw maps.")
    fig.notes.append("Responses are Poisson noise: the numbers time the work, not a fit to real neurons.")
    return fig


if __name__ == "__main__":
    t0 = time.perf_counter()
    print(predictivity(1, "resnet18", 40, 20, 4).markdown())
    print(f"{time.perf_counter() - t0:.1f} s")
