"""Campaigns: borrower import, strategies and the compliance gate, scheduling, dialing, persistence."""
