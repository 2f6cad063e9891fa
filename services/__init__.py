"""The services: one core each (no transport imports), an HTTP edge, and (for choreography) an
event edge."""
