"""Attribution: which link most likely leaked the canaries that surfaced, and which
sightings are one leak (pure: no database, no web framework). The app gathers the link
tree, the plants and an incident's sightings and hands them over as plain values.

model: the leak model and `attribute`; evidence: each link's likelihood over leak times
and look-backs; leak: over the leaked volume; tree: links, readers and plants; grouping: one
leak, one incident; explain and vocabulary: the text, in English and Chinese from one
glossary.
"""
