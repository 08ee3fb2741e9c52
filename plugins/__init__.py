"""aerobackup's built-in plugins. Each is found through the ``aerobackup`` entry-point group,
exactly as a third-party plugin is; the core never imports them by name."""
