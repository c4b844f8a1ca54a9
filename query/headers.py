"""HTTP header names the API and its clients (the CLI, the page) agree on."""

from __future__ import annotations

from typing import Final

# A direct download names its export id in this response header (docs/contracts.md).
EXPORT_ID_HEADER: Final = "X-Activitylog-Export-Id"
# Who, in the portal, asked (the portal's own signed-in user); recorded, not trusted further.
USER_HEADER: Final = "X-Activitylog-User"
# How many rows an export holds, sent before the body (for the client's progress bar).
ROWS_HEADER: Final = "X-Activity-Rows"
