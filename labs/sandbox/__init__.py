"""Host drivers that start real sandboxes and measure them.

This package must not import Django: it takes plain parameters and returns plain
results so it can be tested and benchmarked on its own. docs/architecture.md,
"Sandbox rules", lists the rules every driver follows.
"""
