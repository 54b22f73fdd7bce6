"""Jobs: one set of plain functions, run in-process on SQLite and on workers on PostgreSQL."""
