#!/usr/bin/env bash
# Validates docker-compose.yml (with .env.example as its .env, every profile: the services postgres,
# worker-1, worker-2 and grafana, the workers on host ports of their own) and the YAML of deploy/,
# without a Docker engine. Uses Debian's docker-compose (compose v1), installing it where apt-get can,
# and also `docker compose` (v2) when that plugin is present: the file must satisfy both.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker-compose >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "compose-check: installing Debian's docker-compose"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    echo "compose-check: SKIPPED: docker-compose is not installed and apt-get is not usable here"
    exit 0
  fi
fi

# A scratch project folder, so that a developer's own .env is neither read nor overwritten.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp docker-compose.yml Dockerfile "$work/"
cp -r docker "$work/docker"
cp .env.example "$work/.env"

check() {
  local name="$1"
  shift
  if ! (cd "$work" && "$@" --profile bi config >"$work/$name.out" 2>"$work/$name.err"); then
    echo "compose-check: FAILED: $name config"
    cat "$work/$name.err" "$work/$name.out"
    exit 1
  fi
  for service in postgres worker-1 worker-2 grafana; do
    if ! grep -qE "^  ${service}:" "$work/$name.out"; then
      echo "compose-check: FAILED: $name config has no service $service"
      cat "$work/$name.out"
      exit 1
    fi
  done
  # Each worker publishes /metrics on a host port of its own: `config` does not see a clash, `up` would.
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
    if ! python3 - "$work/$name.out" <<'PY'
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))['services']
published = {}
for service, spec in services.items():
    for port in spec.get('ports') or []:
        # v1 writes "127.0.0.1:9464:9464/tcp"; v2 a mapping with host_ip and published.
        key = f"{port.get('host_ip', '')}:{port.get('published')}" if isinstance(port, dict) else port.rsplit(':', 1)[0]
        if key in published:
            sys.exit(f'compose-check: FAILED: {service} and {published[key]} both publish {key}')
        published[key] = service
workers = [s for s, spec in services.items() if 'start' in ' '.join(spec.get('command') or [])]
if len(workers) < 2:
    sys.exit(f'compose-check: FAILED: {len(workers)} worker service(s), not two: {workers}')
PY
    then
      exit 1
    fi
  fi
  echo "compose-check: $name config OK ($("$@" version --short 2>/dev/null || echo '?'))"
}

check docker-compose docker-compose
if docker compose version >/dev/null 2>&1; then check "docker compose" docker compose; fi

# Kubernetes manifests, Prometheus rules and promtool's rule tests: YAML syntax, with the python3 YAML
# module that Debian's docker-compose depends on. (promtool itself checks the rules in the suite.)
python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3 || true)"
if [ -n "$python" ] && "$python" -c 'import yaml' 2>/dev/null; then
  "$python" - deploy <<'PY'
import pathlib, sys, yaml
files = sorted(p for p in pathlib.Path(sys.argv[1]).rglob('*') if p.suffix in ('.yaml', '.yml'))
for path in files:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for document in documents:
        if not isinstance(document, dict) or not (
            {'apiVersion', 'kind'} <= document.keys() or 'groups' in document or {'rule_files', 'tests'} <= document.keys()
        ):
            sys.exit(f'compose-check: FAILED: {path}: a document is neither a Kubernetes object, a rules file nor a rules test')
    print(f'compose-check: {path} OK ({len(documents)} documents)')
PY
else
  echo "compose-check: SKIPPED the YAML of deploy/: no python3 with the yaml module"
fi
