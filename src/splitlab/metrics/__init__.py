"""Metric definitions: how tracked events become one number per exposed user."""
