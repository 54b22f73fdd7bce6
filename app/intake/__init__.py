"""The one way in: every observation of every source becomes sightings here, in one order.

A source (a scan of a leaked file, a reported file or pasted text, a trading-site listing
and its sample files, a call or message to a pool number, a provider's callback, a batch of
orders) turns what it saw into observations on the watcher side (watchers/). Then:

1. `Intake.match` refreshes the canary index (a plain read) and matches the observations
   with no transaction open: a long text or file takes a while, and SQLite has one writer.
   (A leaked file is matched as it is read, by `Intake.scan`.)
2. The caller opens a unit of work around its writes only, and `Intake.record` builds the
   sightings (one builder, one dedup key: `app.intake.sightings`), stores those not stored
   before, and hands them off, in this order: the evidence chain (app.evidence), control
   alerts (app.alerts), incidents (app.incidents: grouping, and attribution by a job or in
   the unit), and burns (app.planting: a surfaced canary is retired and replaced; a
   replacement that cannot be minted is a coverage problem, never a lost sighting).

`Intake.take` does both for the sources that write nothing else.
"""
