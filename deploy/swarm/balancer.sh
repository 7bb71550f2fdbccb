#!/bin/sh
# The balancer of the Swarm stack (deploy/swarm/stack.yaml): nginx (deploy/swarm/nginx.conf)
# plus a loop that follows the replicas as they come and go.
#
# Swarm's DNS answers `tasks.<service>` with one address per running, healthy task.
# Debian 12's nginx (1.22) re-resolves names neither in an `upstream` (the `resolve`
# parameter came to open-source nginx in 1.27.3) nor with a sticky hash (a variable in
# proxy_pass with `resolver` re-resolves, but then nginx round-robins and nothing is
# sticky). So this loop looks the name up every $LENET_RESOLVE_EVERY seconds and, when the
# set of addresses changed, rewrites /tmp/lenet/replicas.conf (the upstream and the map of
# valid routing cookies) and reloads nginx (SIGHUP: graceful, open websockets stay on the
# old worker processes until they close).
set -eu

SERVICE="${LENET_REPLICAS:-tasks.app}"
PORT="${LENET_REPLICA_PORT:-8501}"
EVERY="${LENET_RESOLVE_EVERY:-2}"
OUT=/tmp/lenet/replicas.conf

lookup() {  # the replicas' addresses, sorted, one line
  getent ahostsv4 "$SERVICE" 2>/dev/null | awk '{ print $1 }' | sort -u | tr '\n' ' '
}

render() {  # $1: addresses (may be empty: then every request gets 502 until one appears)
  mkdir -p /tmp/lenet
  {
    echo "# written by balancer.sh from the DNS name $SERVICE"
    echo "upstream lenet_replicas {"
    echo "    zone lenet_replicas 64k;"
    echo "    least_conn;"
    [ -n "$1" ] || echo "    server 127.0.0.1:9 down;"
    for a in $1; do echo "    server $a:$PORT max_fails=1 fail_timeout=5s;"; done
    echo "}"
    echo "map \$cookie_lenet_route \$lenet_sticky {"
    echo "    default \"\";"
    for a in $1; do echo "    \"$a:$PORT\" \"$a:$PORT\";"; done
    echo "}"
  } >"$OUT.new"
  mv "$OUT.new" "$OUT"
}

current=$(lookup)
render "$current"
echo "balancer.sh: replicas of $SERVICE: ${current:-none}" >&2
nginx -e stderr -g 'daemon off;' &
nginx_pid=$!
trap 'kill -QUIT "$nginx_pid" 2>/dev/null; wait "$nginx_pid"; exit 0' QUIT TERM INT

while kill -0 "$nginx_pid" 2>/dev/null; do
  sleep "$EVERY" &
  wait $! || true
  new=$(lookup)
  [ "$new" = "$current" ] && continue
  render "$new"
  if nginx -t -q -e stderr; then
    kill -HUP "$nginx_pid"
    echo "balancer.sh: replicas of $SERVICE now: ${new:-none} (nginx reloaded)" >&2
    current=$new
  fi
done
wait "$nginx_pid"
