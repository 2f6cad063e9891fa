"""Metadata: the picture documents, their status and their processing timeline."""
