"""Benchmarks: each runs with one command and prints a table and JSON (README "Performance")."""
