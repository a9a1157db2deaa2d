"""The open model and the jobs run on it, the same in the window, the command line and a script.

:mod:`engine.session.values` and :mod:`engine.session.job` are torch-free (the window names
stimuli, models and jobs with them before torch has loaded); :mod:`engine.session.session`
holds the torch side: the :class:`~engine.session.session.Session` that jobs run on.
"""
