"""activitylog: the partner activity log's shared plumbing and console script.

The four contract-shaped packages (`schemas`, `producers`, `processors`,
`query`) hold the product; this package holds what they share without it
being a contract: settings, typed errors, the store connection, the local
Kafka launcher, and the `activitylog` command that wires them together.
"""

__version__ = "0.1.0"
