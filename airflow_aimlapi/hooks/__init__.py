"""Hooks of the AIML API provider."""
