"""One view per analysis of the registry (engine.session.analysis) and the view protocol they share."""
