"""The API's routes, one module per resource; `query.http.app` includes them in order."""
