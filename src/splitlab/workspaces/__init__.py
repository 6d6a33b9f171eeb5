"""Workspaces: the unit of tenancy every object belongs to."""
