"""The honeytrace service: API, storage, attribution, jobs and CLI."""
