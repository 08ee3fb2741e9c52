"""Test support shipped to users: the Aerospike server emulator (issue 4), in-memory fakes and
the contract suites plugin authors run against their own plugins."""
