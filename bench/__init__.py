"""Evident's benchmarks: each figure measured next to a baseline from the same run.

Absolute rates on a shared machine are noise (DESIGN, performance anchors), so every
benchmark here reports its figure together with a baseline measured in the same process on
the same log, the ratio between them, and the target the project holds it to.
``python -m bench`` builds a fresh benchmark database, runs the benchmarks and prints one
table; ``bench.history`` builds the log, each other module is one benchmark.
"""
