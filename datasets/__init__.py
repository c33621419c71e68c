"""Sample data and the synthetic submission generator (see README.md here)."""
