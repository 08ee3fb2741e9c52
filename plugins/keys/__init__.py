"""Built-in keys plugins."""
