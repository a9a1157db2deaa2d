"""Stimuli: procedural images, parametric protocols, image loading and image sets."""
