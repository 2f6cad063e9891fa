"""Thumbnails: an upright JPEG of at most 400 px a side per picture."""
