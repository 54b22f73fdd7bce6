"""Reports filed by people: a pasted listing, an SMS or call note, a file they were sent."""
