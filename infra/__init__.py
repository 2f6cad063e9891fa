"""Infrastructure: setting up storage, streams and the local stack runner."""
