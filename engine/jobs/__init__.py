"""Job kinds: one module each, holding the job (a frozen, serialisable dataclass that runs
itself on a :class:`engine.session.session.Session`) and the snapshot it yields.

The modules import torch only inside ``run``, so the window can build jobs and read
snapshots without loading it.  Each module also declares
its analysis (:func:`engine.session.analysis.register`); the registry finds them all.
"""
