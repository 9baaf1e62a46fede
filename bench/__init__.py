"""Load benchmarks on loopback (see bench/README.md)."""
