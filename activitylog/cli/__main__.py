"""`python -m activitylog.cli`: the console script without installing it."""

from activitylog.cli import console

console()
