"""pytest plugin (entry point ``pytest11``): fixtures for testing against the emulator (issue 4)."""
