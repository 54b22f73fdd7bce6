"""Stored sightings as the API shows them."""
