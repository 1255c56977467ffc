# Isolation of stdio servers (tests/tests/isolation.rs): Docker and bubblewrap from Debian,
# and a Docker daemon. When none answers (CI: a fresh machine, as root) a private one is
# started with its state in a temporary directory, and stopped when scripts/test ends. The
# tests build their images with `docker import`: nothing is pulled.

need_debs docker.io bubblewrap

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "Docker answers at ${DOCKER_HOST:-the default socket}: the isolation tests use it"
elif [ "$(id -u)" = 0 ]; then
  _dockerd_dir=$(mktemp -d /tmp/mcpproxy-dockerd.XXXXXX)
  dockerd --data-root "$_dockerd_dir/data" --exec-root "$_dockerd_dir/exec" \
    --pidfile "$_dockerd_dir/dockerd.pid" -H "unix://$_dockerd_dir/docker.sock" \
    >"$_dockerd_dir/dockerd.log" 2>&1 &
  _dockerd_pid=$!
  export DOCKER_HOST="unix://$_dockerd_dir/docker.sock"
  on_exit "kill $_dockerd_pid 2>/dev/null; for _ in \$(seq 1 100); do kill -0 $_dockerd_pid 2>/dev/null || break; sleep 0.1; done; rm -rf '$_dockerd_dir'"
  for _ in $(seq 1 150); do
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
    sleep 0.2
  done
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "started a private dockerd (pid $_dockerd_pid) at $DOCKER_HOST"
  else
    echo "the private dockerd did not answer; its log:" >&2
    tail -n 30 "$_dockerd_dir/dockerd.log" >&2
    return 1
  fi
else
  echo "no Docker daemon answers and this is not root: start Docker (or run as root) for the isolation tests" >&2
  return 1
fi
