"""Starting Unitscope: the application object, the About box, the window half of `unitscope doctor`."""
