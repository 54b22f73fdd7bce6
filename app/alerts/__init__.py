"""Alerts: signed webhooks (generic, Slack, DingTalk, WeCom) for incidents and control sightings."""
