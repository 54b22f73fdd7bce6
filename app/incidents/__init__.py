"""Incidents: sightings that belong to one leak, and the attribution of each to a link."""
