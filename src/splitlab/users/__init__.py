"""Experiment subjects as the client knows them, with the properties targeting reads."""
