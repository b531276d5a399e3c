"""HTTP side of the server: JSON API, dashboard, /metrics and /openapi.json (twisted.web)."""
