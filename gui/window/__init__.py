"""The main window, its menus, settings, session files and screenshots."""
