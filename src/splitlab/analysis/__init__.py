"""Experiment analysis: SQL aggregates → statistics → a verdict."""
