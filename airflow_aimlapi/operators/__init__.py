"""Operators of the AIML API provider."""
