"""The launcher: the ``picadaily`` command, the component table and the local stack runner.

The top layer: it may import every other package; nothing imports it (the bench and the
end-to-end tests use its stack runner).
"""
