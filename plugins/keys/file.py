"""Key source: PEM RSA key files (issue 7).

Placeholder: registers nothing yet (see the issue named above)."""
