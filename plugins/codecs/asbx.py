"""ASBX binary codec (issue 6).

Placeholder: registers nothing yet (see the issue named above)."""
