"""The benchmark: environments, the floor server and the peer composition (see README)."""
