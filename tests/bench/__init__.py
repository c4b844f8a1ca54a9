"""Benchmarks (`make bench`): each compares with a reference measured in the same run."""
