"""The key-management API: issue, list and revoke API keys."""
