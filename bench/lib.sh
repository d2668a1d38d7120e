# shellcheck shell=bash
# What the bench/ scripts share: free ports, waiting for a server, and nginx configurations (nginx
# is both a fixed-response upstream and the proxy the gateway is compared with). Sourced.

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Waits for "listening on http://..." in a log and prints the port.
wait_port() {
  local log=$1
  for _ in $(seq 200); do
    if grep -q "listening on" "$log"; then
      grep -o 'http://[^ ]*' "$log" | head -1 | sed 's/.*://'
      return 0
    fi
    sleep 0.05
  done
  echo "error: no 'listening on' in $log:" >&2
  cat "$log" >&2
  return 1
}

wait_http() {  # url: until it answers at all
  for _ in $(seq 200); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.05
  done
  echo "error: $1 never answered" >&2
  return 1
}

stop_pid() {
  kill "$1" 2>/dev/null || return 0
  wait "$1" 2>/dev/null || true
}

# Writes $1/nginx.conf (and $1/logs) for one worker serving $2, the server block(s); $3 holds
# extra top-level lines. Workers run as nobody when started by root; keep-alive lasts longer than
# any run (an upstream that closes idle connections between runs would make the gateway answer
# 503). NOFILE, when set, raises the worker's descriptor limit.
nginx_conf() {
  local dir=$1 servers=$2 extra=${3:-} user=""
  mkdir -p "$dir/logs"
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && user="user nobody nogroup;"
  cat >"$dir/nginx.conf" <<CONF
$user
$extra
worker_processes 1;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
${NOFILE:+worker_rlimit_nofile $NOFILE;}
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 1h;
$servers
}
CONF
}
