"""The number pool: the operator's own mobile numbers, assigned one link at a time."""
