"""Installing the system on hosts: the hosts file (``hosts.py``) and the systemd units
rendered from it (``units.py``) by ``quantum deploy systemd``."""
