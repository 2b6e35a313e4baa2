"""Offline evaluation: splits, metrics on ranked lists, baselines, tuning and the report."""
