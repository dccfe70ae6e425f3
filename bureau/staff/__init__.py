"""Bureau staff: accounts, roles, and (later) the dashboard."""
