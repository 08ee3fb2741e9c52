"""Local directory and file storage (issue 10).

Placeholder: registers nothing yet (see the issue named above)."""
