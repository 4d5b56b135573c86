"""Notifications (issue 17): incidents from live verdicts, a durable queue, Zalo OA / SMTP / webhook.

incidents.py turns verdict transitions into incident events (pure logic), route.py says who is told,
message.py writes the text, queue.py keeps messages durably, channels.py sends, deliver.py drains.
"""
