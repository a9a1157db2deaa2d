"""A lab's recorded neurons: responses as stimuli x neurons x repeats, read from NWB,
``.npz``/``.h5``/``.mat`` and long-form CSV files, checked and matched to image files."""
