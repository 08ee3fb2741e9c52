"""zstd compression transform (issue 7).

Placeholder: registers nothing yet (see the issue named above)."""
