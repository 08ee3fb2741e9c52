"""Standard input/output storage for single-file backups (issue 10).

Placeholder: registers nothing yet (see the issue named above)."""
