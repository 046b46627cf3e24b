"""ResourceQuota controller: keeps every quota's status.used equal to what its namespace holds."""
