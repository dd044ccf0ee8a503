# Shared by the scripts in bench/extra: a namespace with a veth LAN, a netauth daemon on
# it with its pins on a bpffs mounted outside the namespace (as the README tells
# operators), and a batch of sessions. Source it, then `start_netauth NS [OPTION...]` and
# `load_sessions N`; everything is removed on exit. Needs BIN set and root.

D=$(mktemp -d)
cleanup() {
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  umount "$D/bpf" 2>/dev/null || true; [ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT

# start_netauth NS [OPTION...]: starts the daemon (PID) with the options given.
start_netauth() {
  NS=$1; shift
  ip netns del "$NS" 2>/dev/null || true
  ip netns add "$NS"
  ip -n "$NS" link add lan0 type veth peer name lan1
  ip -n "$NS" addr add 192.0.2.1/24 dev lan0
  ip -n "$NS" link set lan0 up; ip -n "$NS" link set lan1 up; ip -n "$NS" link set lo up
  mkdir -p "$D/bpf"; mount -t bpf bpf "$D/bpf"
  ip netns exec "$NS" "$BIN" run --lan lan0 --admin-socket "$D/admin.sock" \
    --state-dir "$D/state" --bpffs "$D/bpf" "$@" > "$D/log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -S "$D/admin.sock" ] && break; sleep 0.1; done
  [ -S "$D/admin.sock" ] || { echo "netauth did not start:"; cat "$D/log"; exit 1; }
}

# load_sessions N: authorizes N synthetic devices for a day in one batch (the admin API
# serves one request per connection, so one batch, not N requests).
load_sessions() {
  python3 -c "
for i in range($1):
    print('06:%02x:%02x:%02x:%02x:01' % ((i>>24)&255, (i>>16)&255, (i>>8)&255, i&255))
" > "$D/macs"
  "$BIN" allow --from "$D/macs" --for 24h --admin-socket "$D/admin.sock"
}
