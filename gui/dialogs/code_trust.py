"""Asking before a model named in a file runs code (a session, the remembered last model,
a cluster job's results).

A ``FILE.py:FACTORY`` or pickled model that a session file or the remembered last model
names runs only after the person says Yes to a question that shows the file's absolute
path and SHA-256 (default No), or when the window was started with ``--trust-code``.
Without a person to ask (``--screenshot``) it is refused.  The window says how to answer
in a :class:`CodeTrust`; nothing here sees the window.  Torch-free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtWidgets import QMessageBox, QWidget

from engine.models.trust import code_file, trust_question
from engine.session.values import ModelSpec

log = logging.getLogger(__name__)

QUESTION_NAME = "run_code_question"


@dataclass(frozen=True)
class CodeTrust:
    """How a model that runs code from a file is answered.

    Attributes
    ----------
    refused : callable(str)
        Told, in one line, why a model was not run (the window shows it and reports it as
        the engine's failure).
    trust_code : bool
        Started with ``--trust-code``: run it without asking.
    can_ask : bool
        A person is there to answer the question (False with ``--screenshot``: refused).
    parent : QWidget or None
        The window the question is shown over.
    """

    refused: Callable[[str], None]
    trust_code: bool = False
    can_ask: bool = True
    parent: QWidget | None = None


def ask(parent: QWidget | None, text: str) -> bool:
    """Show the question over ``parent`` (modal, default No); True if the person answered Yes."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Run code from a file?", text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName(QUESTION_NAME)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    answer = box.exec()
    box.deleteLater()
    return answer == QMessageBox.StandardButton.Yes


def trusted_model(model: ModelSpec, source: str, trust: CodeTrust) -> ModelSpec | None:
    """``model`` ready to open (pickle trust granted where the person agreed), or None when
    it names code the person did not agree to run (``trust.refused`` is then told why).

    ``source`` names where the spec was read from ("The session 's.unitscope.json'").
    """
    found = code_file(model.spec)
    if found is None:
        return model
    if trust.trust_code:
        agreed = True
    elif not trust.can_ask:
        agreed = False
        problem = (f"{source} names {model.spec}, which runs code from {found.path}; it was not run "
                   "(start with --trust-code only if you trust that file).")
    else:
        agreed = ask(trust.parent, trust_question(found, source))
        problem = f"{source} names {model.spec}, which runs code from {found.path}; you chose not to run it."
    if not agreed:
        log.warning("%s", problem)
        trust.refused(problem)
        return None
    return replace(model, trust_pickle=found.kind == "pickle")


def trusted_session_model(saved, source: str, trust: CodeTrust) -> ModelSpec | None:
    """The session's model ready to open, or None when it, or the model of a cluster job whose
    results one of its views would show again, runs code the person did not agree to run."""
    model = trusted_model(saved.model, source, trust)
    if model is None:
        return None
    for name, job in saved.jobs.items():
        job_dir = getattr(job, "job_dir", "")
        if not job_dir:
            continue
        from engine.cluster.results import open_results
        from engine.errors import UnitscopeError

        try:
            other = getattr(open_results(job_dir), "model", None)  # a predict job's result opens no model
        except (UnitscopeError, OSError, KeyError, ValueError) as exc:  # the job itself will say why
            log.info("could not read the model of %s: %s", job_dir, exc)
            continue
        if other is None:
            continue
        if other.spec != saved.model.spec and trusted_model(
                other, f"{source}'s {name} results (the cluster job in '{job_dir}')", trust) is None:
            return None
    return model
