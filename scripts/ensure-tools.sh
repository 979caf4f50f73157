#!/usr/bin/env bash
# The system programs the test suite drives for real: Chromium (browser tests of the
# dashboard), promtool (Prometheus rule tests), amtool (Alertmanager config tests) and
# iptables (network faults between the namespaces of a hosts topology).
# Installed from Debian's packages when missing and this runs as root; otherwise it says
# which command to run. Idempotent: prints nothing when everything is there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "the tests need: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} (Debian packages) for the test suite"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
}
# The Debian packages start their daemons; the tests start their own.
for unit in prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$unit" >/dev/null 2>&1 || true; fi
  pkill -x "$unit" >/dev/null 2>&1 || true
done
