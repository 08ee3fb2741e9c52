"""AES-128/256 CTR encryption transforms (issue 7).

Placeholder: registers nothing yet (see the issue named above)."""
