"""Insights: the bureau's figures (requests, funnel, response times, SLA, revenue) as charts."""
