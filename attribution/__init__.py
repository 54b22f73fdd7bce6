"""Attribution: which link most likely leaked the canaries that surfaced (pure: no database,
no web framework). The app gathers the link tree, the plants and an incident's sightings and
hands them over as plain values."""
