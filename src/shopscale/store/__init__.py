"""Where results go: files and SQL databases (SQLite, PostgreSQL)."""
