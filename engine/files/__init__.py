"""Files: atomic writing, hashes, activation files with provenance."""
