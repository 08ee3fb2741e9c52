"""Azure Blob storage on adlfs (issue 10).

Placeholder: registers nothing yet (see the issue named above)."""
