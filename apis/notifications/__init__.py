"""Notifications: made from events by the notifications consumer (rules.py), read and streamed
(Server-Sent Events) by their recipients, with per-kind, per-channel preferences."""
