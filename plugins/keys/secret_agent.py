"""Key source: the Aerospike Secret Agent (issue 7).

Placeholder: registers nothing yet (see the issue named above)."""
