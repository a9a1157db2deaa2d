"""Dialogs: cluster jobs and results, figures, pretrained weights, trust."""
