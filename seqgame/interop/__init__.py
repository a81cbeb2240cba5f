"""Exports to and cross-checks with OpenSpiel and pygambit (optional extras)."""
