"""Amazon S3 storage on s3fs (issue 10).

Placeholder: registers nothing yet (see the issue named above)."""
