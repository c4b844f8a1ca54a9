"""Export jobs: long exports run in the background, written to files, resumable downloads."""
