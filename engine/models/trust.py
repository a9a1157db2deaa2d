"""Which model specs run code from a file, and the one rule for running them (torch-free).

A ``FILE.py:FACTORY`` spec runs ``FILE.py``; a whole pickled model file runs code from
the file when it is unpickled.  A spec the person typed (``--model``, the model picker, File
▸ Open model) is their choice.  A spec read from a file (a job, a result, a session, a
cluster store, a remembered last model) is not: it runs only with the person's explicit
trust, ``--trust-code`` on the command line (``--trust-pickle`` for a pickle, as before),
or their Yes to a question in the window that shows the file's absolute path and SHA-256.
:func:`require_trust` is that rule for the command line; the window asks with
:func:`code_file` and :func:`trust_question`.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UnitscopeError


@dataclass(frozen=True)
class CodeFile:
    """A file whose code opening a model runs: ``kind`` is ``"python"`` or ``"pickle"``."""

    path: Path  # absolute
    kind: str

    @property
    def flag(self) -> str:
        """The command-line option that grants trust to it."""
        return "--trust-code" if self.kind == "python" else "--trust-pickle"

    def sha256(self) -> str:
        """The file's SHA-256 now (``"unreadable: reason"`` if it cannot be read)."""
        from engine.files.hashing import sha256_of

        try:
            return sha256_of(self.path)
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"


def factory_file(spec: str) -> tuple[Path, str] | None:
    """``(file, factory)`` of a ``FILE.py:FACTORY`` spec, else None."""
    file_part, sep, factory = spec.rpartition(":")
    return (Path(file_part), factory) if sep and file_part.lower().endswith(".py") else None


def _is_pickled(path: Path) -> bool:
    """Whether ``path`` is a pickle or a torch.save zip that is not TorchScript (by its bytes only)."""
    from engine.files.reading import open_regular

    try:
        with open_regular(path, "Model file") as fh:
            head = fh.read(8)
            if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
                return True
            if not head.startswith(b"PK\x03\x04"):
                return False
            fh.seek(0)
            try:
                with zipfile.ZipFile(fh) as archive:
                    names = archive.namelist()
            except (zipfile.BadZipFile, OSError, ValueError):
                return False
    except UnitscopeError:
        return False
    return not any("/code/" in name for name in names) and any(n.endswith(".pkl") for n in names)


def code_file(spec: str) -> CodeFile | None:
    """The file whose code opening ``spec`` would run (a relative path resolved against the
    current folder, as :meth:`engine.session.values.ModelSpec.resolved` does), or None."""
    factory = factory_file(spec)
    if factory is not None:
        return CodeFile(factory[0].absolute(), "python")
    path = Path(spec)
    if spec and _is_pickled(path):
        return CodeFile(path.absolute(), "pickle")
    return None


def require_trust(spec: str, trust_code: bool, trust_pickle: bool, where: str = "The job's model") -> None:
    """Refuse ``spec`` unless the person trusts the code it runs (``--trust-code`` for a
    ``FILE.py:FACTORY``, ``--trust-pickle`` for a pickled model), with one line naming the
    file, its SHA-256 and the option."""
    found = code_file(spec)
    if found is None or (trust_code if found.kind == "python" else trust_pickle):
        return
    what = "Python code" if found.kind == "python" else "a pickled model (loading it runs code from the file)"
    raise UnitscopeError(f"{where} '{spec}' is {what}: {found.path} (SHA-256 {found.sha256()}); "
                         f"pass {found.flag} only if you trust that file.")


def trust_question(found: CodeFile, source: str) -> str:
    """The text of the window's question before running ``found``, named in ``source``."""
    what = "Python code" if found.kind == "python" else "a pickled model; loading it runs code from the file"
    return (f"{source} names a model that runs code from a file:\n\n{found.path}\n\n"
            f"SHA-256: {found.sha256()}\n\nIt is {what}. Run it only if you trust this file "
            "and where it came from.")
