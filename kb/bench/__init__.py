"""Benchmarks of kb at scale: a synthetic corpus, and the ingest and search measurements of `kb bench`."""
