"""The window's widgets: model picker, anatomy tree and card, feature-map panel, unit view, inputs, status bar."""
