"""Opening models: torchvision's zoo and offline weights, model files, preprocessing, devices, provenance."""
