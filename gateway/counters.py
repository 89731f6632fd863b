"""The gateway's own Prometheus counters (beside the request counters of shared.metrics):
what went wrong between the gateway and the services, by kind."""

from __future__ import annotations

from prometheus_client import Counter

UPSTREAM_FAILURES = Counter(
    "quarry_gateway_upstream_failures_total",
    "Requests the gateway could not complete with a service, by kind: unavailable "
    "(no connection), timeout, bad_gateway (a broken answer), body_cut (the answer broke "
    "off after it started), client_gone (the client left first), request_timeout (the "
    "client's body stalled), too_large",
    ["service", "kind"],
)
WEBSOCKET_CLOSES = Counter(
    "quarry_gateway_websocket_closes_total",
    "WebSocket sessions the gateway closed itself, by reason",
    ["reason"],
)
CONNECTIONS_REFUSED = Counter(
    "quarry_gateway_connections_refused_total",
    "Client connections the gateway's server closed before a request was served, by "
    "reason: headers_too_large (431), header_timeout (408), too_many_connections (429)",
    ["reason"],
)
