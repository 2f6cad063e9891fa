"""Event-triggered functions: the storage-event bridge and the trigger function."""
