"""Alerting as code: the Prometheus scrape configuration, alert rules, Alertmanager
routing and the Grafana dashboard of this system, rendered from its settings
(``quantum ops render``). The metric names come from ``observability``; the services,
ports and limits from ``config``; the exit path from ``runtime.supervisor``. The
notifier (``notifier``, ``notify_*``) sends the system's own notices to webhooks and chats.
"""
