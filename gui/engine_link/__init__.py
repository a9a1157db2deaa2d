"""The window's link to the engine: the engine thread and the state of what is shown and awaited."""
