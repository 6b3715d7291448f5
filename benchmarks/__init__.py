"""Benchmarks; a package so the tests can import the workload code instead of copying it."""
