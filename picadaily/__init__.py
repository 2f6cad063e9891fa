"""PicaDaily: one photo pipeline wired two ways, orchestration and choreography.

This package is the shared kernel: settings, the picture contracts, step names, image decoding,
S3 access and the command line. The services, functions, workflow and frontend build on it.
"""
