"""Streaming analyses of units and populations: tuning, receptive fields, top images, PCA/RDM/RSA/CKA."""
