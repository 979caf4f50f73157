"""The operator's dashboard: positions, orders, trade traces, service health, harvest
metrics and risk history, read from Redis and the trade journal, with live updates over
server-sent events; and the operator's actions — kill switch, entry pauses, closes, stop
moves, breaker reset — sent through the same control keys and exit lane the system uses
(never to the exchange), each idempotent, confirmed and recorded on the audit stream.

``app.build_app`` makes the ASGI application from a :class:`~.context.DashboardContext`;
``server.serve`` runs it (``quantum dashboard``, ``quantum run --dashboard PORT``).
"""
