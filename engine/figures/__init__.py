"""Figures for papers, drawn from the data with matplotlib (never from the screen).

Qt-free and torch-free: a figure is drawn from a :class:`~engine.figures.data.FigureData`
(a result file's numbers, or what a window view shows) with :class:`~engine.figures.style.FigureOptions`
(width in mm, font, DPI, panel letters); :func:`~engine.figures.render.write_figure` writes
PDF/SVG/PNG/TIFF and a sidecar that draws it again; :mod:`~engine.figures.methods` writes the
Methods paragraph and BibTeX of the jobs behind it.
"""
