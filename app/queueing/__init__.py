"""Jobs and the queues that run them: in-process on SQLite, procrastinate on PostgreSQL."""
