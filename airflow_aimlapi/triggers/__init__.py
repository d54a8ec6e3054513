"""Triggers of the AIML API provider."""
