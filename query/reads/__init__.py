"""Reads of the activity table: filtered pages, one record, lifecycles, subscriptions."""
