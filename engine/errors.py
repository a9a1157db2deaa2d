"""The exceptions the engine raises for problems a user can fix."""


class UnitscopeError(Exception):
    """Bad input or a failed operation, with a message fit to show the user as it is.

    The message names the thing (file, model, layer) and the reason in one line.
    """


class LayerNotCalled(UnitscopeError):
    """A requested layer (or its call ``#k``) did not run in a forward pass, e.g. a branch
    that a model takes for some inputs only."""
