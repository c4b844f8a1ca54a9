"""The ground: errors, settings, the store, network probes. Imports nothing of this project."""
