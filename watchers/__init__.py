"""Pure sighting sources: each turns the outside world into observations. Never imports app."""
