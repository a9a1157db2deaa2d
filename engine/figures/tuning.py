"""Tuning curves: F0 and F1 against orientation (linear and polar) or spatial frequency.

F0 is the mean response over the phases of each condition and F1 the amplitude of its first
harmonic over phase; the band shows the minimum to maximum over phases when the data
holds them.  The caption gives the preferred orientation, OSI, circular variance and
half-width bandwidth of F0 (:mod:`engine.analyses.tuning` defines them), and the orientation
convention of the stimuli: theta is the direction along which luminance varies (0 deg = vertical
bars; y points down, so theta turns clockwise on screen).  The polar panel is drawn in that
sense (0 deg to the right, angles clockwise), as the grating would appear.
"""

from __future__ import annotations

import numpy as np

from engine.figures.data import FigureData
from engine.figures.style import ACCENT, LINE_COLORS, FigureOptions, fmt, panel_letter

#: How the stimuli define orientation; said in the caption, the command line's output and Methods.
ORIENTATION_CONVENTION = ("Orientation \u03b8 is the direction along which luminance varies (0\u00b0: vertical "
                          "bars; y points down, so \u03b8 increases clockwise on screen); the bars' own "
                          "orientation is \u03b8 + 90\u00b0.")

AXIS_LABELS = {"orientation": "orientation \u03b8 (\u00b0)", "sf_rf": "spatial frequency (cycles / RF)",
               "sf": "spatial frequency (cycles / image)", "contrast": "contrast", "phase": "phase (\u00b0)",
               "aperture": "aperture"}


def figure_height(data: FigureData, options: FigureOptions) -> float:
    return min(options.width_in * (0.5 if data.meta.get("param") == "orientation" else 0.62), 4.0) + 0.45


def reports_orientation(data: FigureData) -> bool:
    """Whether ``data``'s figure reports an orientation (so that ``FigureOptions.orientation`` applies)."""
    return data.kind == "tuning" and data.meta.get("param", "orientation") == "orientation"


def _bars(options: FigureOptions | None) -> bool:
    """Whether orientation is reported as the bars' own (theta + 90 degrees)."""
    return options is not None and options.orientation == "bar"


def shown_orientation(degrees, options: FigureOptions | None):
    """Orientation as the figure reports it: theta, or the bars' own, (theta + 90) mod 180."""
    degrees = np.asarray(degrees, dtype=float)
    return np.mod(degrees + 90.0, 180.0) if _bars(options) else degrees


def caption(data: FigureData, options: FigureOptions | None = None) -> str:
    """Unit, model, protocol, the metrics of F0 and, for orientation, the convention."""
    param = data.meta.get("param", "orientation")
    unit = data.meta.get("unit", "")
    n_phases = int(data.meta.get("n_phases", 1))
    what = {"orientation": "orientation", "sf_rf": "spatial frequency", "sf": "spatial frequency"}.get(param, param)
    text = (f"Tuning of {unit} in {data.model_label()} to {what} ({data.meta.get('protocol') or 'gratings'}, "
            f"{n_phases} phase{'s' if n_phases != 1 else ''} per condition). F0: mean response over phase; "
            "F1: amplitude of its first harmonic over phase")
    if "lo" in data.arrays and n_phases > 1:
        text += "; band: minimum to maximum over phases"
    text += "."
    metrics = metrics_text(data, options)
    if metrics:
        text += f" {metrics}."
    if param == "orientation":
        shown = "the bars' orientation, \u03b8 + 90\u00b0" if _bars(options) else "\u03b8"
        text += (" " + ORIENTATION_CONVENTION + f" The figure reports {shown}. The polar panel draws it as on "
                 "screen (0\u00b0 to the right, clockwise), with responses repeated every 180\u00b0.")
    return text


def metrics_text(data: FigureData, options: FigureOptions | None = None) -> str:
    """The metrics of F0 in one line (empty when the data has none)."""
    m = (data.meta.get("metrics") or {}).get("f0") or {}
    if m.get("preferred") is not None and np.isfinite(m["preferred"]):  # a spatial-frequency sweep
        unit = "RF" if data.meta.get("param") == "sf_rf" else "image"
        octaves = m.get("bandwidth_octaves")
        width = (f", bandwidth {fmt(octaves)} octaves (full width at half height)"
                 if octaves is not None and np.isfinite(octaves) else "")
        return f"F0: preferred {fmt(m['preferred'])} cycles/{unit}{width}"
    if not m or "preferred_deg" not in m:
        return ""
    preferred = float(shown_orientation(m["preferred_deg"], options))
    name = "bar orientation" if _bars(options) else "\u03b8"
    parts = [f"preferred {name} {fmt(preferred)}\u00b0", f"OSI {m['osi']:.2f}",
             f"circular variance {m['circular_variance']:.2f}"]
    bandwidth = m.get("bandwidth_deg")
    if bandwidth is not None and np.isfinite(bandwidth):
        parts.append(f"bandwidth (half width at 1/\u221a2) {fmt(bandwidth)}\u00b0")
    else:
        parts.append("no bandwidth (the curve stays above 1/\u221a2 of its peak)")
    return "F0: " + ", ".join(parts)


def draw(fig, data: FigureData, options: FigureOptions) -> None:
    x, f0, f1 = data.array("x"), data.array("f0"), data.array("f1")
    param = data.meta.get("param", "orientation")
    orientation = param == "orientation"
    lo, hi = (data.array("lo"), data.array("hi")) if "lo" in data.arrays else (None, None)
    if orientation and _bars(options):  # the bars' own orientation, in order along the axis
        order = np.argsort(shown_orientation(x, options), kind="stable")
        x, f0, f1 = shown_orientation(x, options)[order], f0[order], f1[order]
        lo, hi = (None, None) if lo is None else (lo[order], hi[order])
    if orientation:
        ax, polar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        fig.delaxes(polar)
        polar = fig.add_subplot(1, 2, 2, projection="polar")
    else:
        ax, polar = fig.add_subplot(), None
    n_phases = int(data.meta.get("n_phases", 1))
    if lo is not None and n_phases > 1:
        ax.fill_between(x, lo, hi, color="#C6DBEF", lw=0,
                        label=f"min\u2013max over {n_phases} phases")
    ax.plot(x, f0, "-o", color=LINE_COLORS[0], label="F0 (mean over phase)")
    ax.plot(x, f1, "-s", color=LINE_COLORS[1], label="F1 (first harmonic)")
    pref = ((data.meta.get("metrics") or {}).get("f0") or {}).get("preferred_deg")
    if pref is not None and orientation:
        pref = float(shown_orientation(pref, options))
    if orientation and pref is not None:
        ax.axvline(pref, color=ACCENT, lw=0.8, ls="--", label=f"preferred {fmt(pref)}\u00b0")
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(np.concatenate([f0, f1])))))
    if orientation:
        ax.set_xticks(np.arange(0, 181, 45))
        ax.set_xlim(-5, 185)
    elif np.all(x > 0) and x.max() / x.min() > 8:
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(x))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v)))  # plain text, no mathtext
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bar orientation (\u00b0)" if orientation and _bars(options) else AXIS_LABELS.get(param, param))
    ax.set_ylabel("response (a.u.)")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2, handlelength=1.5,
               columnspacing=1)
    if polar is not None:  # one panel needs no letter
        panel_letter(ax, 0, options)
        theta = np.deg2rad(np.concatenate([x, x + 180, x[:1]]))  # orientation repeats every 180 degrees
        for values, color in ((f0, LINE_COLORS[0]), (f1, LINE_COLORS[1])):
            polar.plot(theta, np.concatenate([values, values, values[:1]]), color=color)
        if pref is not None:
            polar.plot([np.deg2rad(pref)] * 2, [0, max(np.nanmax(f0), np.nanmax(f1))], color=ACCENT, lw=0.8, ls="--")
        polar.set_theta_zero_location("E")
        polar.set_theta_direction(-1)  # clockwise, as theta turns a grating on screen (y down)
        polar.set_thetagrids([0, 90, 180, 270], ["0\u00b0", "90\u00b0", "180\u00b0", "270\u00b0"])
        from matplotlib.ticker import MaxNLocator

        polar.yaxis.set_major_locator(MaxNLocator(3))
        polar.set_rlabel_position(22.5)
        polar.tick_params(axis="y", labelsize=options.small)
        polar.tick_params(axis="x", pad=-1)
        polar.set_title("on screen")
        panel_letter(polar, 1, options)
