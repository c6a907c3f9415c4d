"""Typed models of PACE's resources (layer 1, pure): parsing and serialising only."""
