"""Sensors of the AIML API provider."""
