"""Scans of leaked files: upload, progress, and the matches they record."""
