"""Examples of calling honeytrace's API from a partner's own code."""
