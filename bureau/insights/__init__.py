"""Insights: the bureau's figures (requests, funnel, response times, SLA, revenue) as charts.

What each figure counts, and how, is in docs/topics/insights.md.
"""
