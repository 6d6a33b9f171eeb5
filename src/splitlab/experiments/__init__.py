"""Experiments: definitions, variants, and their lifecycle."""
