"""Reads, exports, the HTTP API, the web page and the query/export CLI commands."""
