"""Use cases over the database: each function takes a session and does one job."""
