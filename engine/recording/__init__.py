"""Recording layers: hooks and calls (NAME#k), the mosaic of a layer's maps, units, CPU threads."""
