"""The numbers of a sweep: statistics, the report (summary, table, bound) and figures."""
