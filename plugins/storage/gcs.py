"""Google Cloud Storage on gcsfs (issue 10).

Placeholder: registers nothing yet (see the issue named above)."""
