"""EXIF and place: camera, lens, date taken and a coarse place name from a photo's own
metadata (an offline gazetteer, no network)."""
