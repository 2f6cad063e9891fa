"""PicaDaily: one photo pipeline wired two ways, orchestration and choreography.

This package is the shared kernel: every contract that crosses processes (settings, documents,
events, streams, object keys, the error shape), the one consumer runtime, image decoding and
object-store access. It imports nothing from the packages built on it (``services``,
``functions``, ``workflow``, ``frontend``, ``infra``, ``bench``, ``cli``).
"""
