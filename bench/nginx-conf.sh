# shellcheck shell=bash
# Sourced by the benches: the config of one nginx backend (1 worker, keep-alive never closed by request count,
# temp files in its own directory), so every bench measures against the same backend.

# write_nginx_conf DIR PORT ROOT KEEPALIVE [SERVER_LINES]: DIR/nginx.conf serving ROOT on 127.0.0.1:PORT;
# KEEPALIVE is nginx's keepalive_timeout value; SERVER_LINES go inside the server block.
write_nginx_conf() {
  local d=$1 port=$2 root=$3 keepalive=$4 extra=${5:-}
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  keepalive_timeout $keepalive;
  keepalive_requests 1000000000;
  default_type application/json;
  server {
    listen 127.0.0.1:$port;
    root $root;
$extra
  }
}
EOF
}
