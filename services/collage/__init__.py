"""Collage: a 2x2 of the newest pictures that have a thumbnail."""
