"""Real server processes on real Redis (and PostgreSQL): several processes behave as one."""
