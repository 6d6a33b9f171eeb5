"""Operational analytics (seed 001's /api/v1/analytics) and data management."""
