#!/usr/bin/env bash
# The two set-up commands in the README call this:
#   npm run demo   -> bash scripts/run.sh demo [--store=memory|redis|postgres]
#   npm test       -> bash scripts/run.sh test
# It needs only Node >= 20.19 and npm. It installs pnpm (the pinned version) when it is
# missing, the workspace's dependencies from the lockfile, and, for `test`, the server
# binaries the tests start (redis-server, memcached, PostgreSQL, chromium) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION="$(node -p "require('./package.json').packageManager.split('@')[1]")"
export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1 DO_NOT_TRACK=1
export npm_config_update_notifier=false

log() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

node_ok() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}

ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "$PNPM_VERSION" ]; then
    PNPM=(pnpm)
    return
  fi
  if [ -w "$(npm prefix -g)/lib" ] || [ "$(id -u)" = 0 ]; then
    log "installing pnpm@$PNPM_VERSION with npm -g"
    npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION" >/dev/null
    hash -r
    PNPM=(pnpm)
  else
    log "using pnpm@$PNPM_VERSION through npx (npm's global prefix is not writable)"
    PNPM=(npx --yes "pnpm@$PNPM_VERSION")
  fi
  [ "$("${PNPM[@]}" --version)" = "$PNPM_VERSION" ] || { echo "pnpm $PNPM_VERSION could not be installed" >&2; exit 1; }
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"; else return 1; fi
}

have_postgres() {
  ls -d /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1
}

ensure_servers() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v memcached >/dev/null 2>&1 || missing+=(memcached)
  have_postgres || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium) # examples/express-app's browser test
  [ ${#missing[@]} -eq 0 ] && return
  log "installing test servers: ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing ${missing[*]} and no apt-get here: install them with your package manager (tests start their own throwaway servers)" >&2
    exit 1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "could not install ${missing[*]}: run as root or with passwordless sudo, or install them yourself" >&2
    exit 1
  fi
}

install_workspace() {
  log "pnpm install --frozen-lockfile"
  "${PNPM[@]}" install --frozen-lockfile --reporter=silent
}

node_ok || { echo "sessionkit needs Node >= 20.19 (found $(node --version))" >&2; exit 1; }

case "${1:-}" in
  demo)
    shift
    ensure_pnpm
    install_workspace
    log "building the packages the demo uses"
    "${PNPM[@]}" exec turbo run build --filter=@sessionkit/example-quickstart... --output-logs=errors-only
    log "demo"
    node examples/quickstart/src/main.mjs "$@"
    ;;
  test)
    ensure_servers
    ensure_pnpm
    install_workspace
    rm -rf packages/*/.test-results examples/*/.test-results
    status=0
    log "build, typecheck, publint, attw"
    "${PNPM[@]}" exec turbo run build typecheck publint attw --output-logs=errors-only || status=1
    log "API reference (typedoc, warnings are errors)"
    "${PNPM[@]}" run docs || status=1
    log "lint (biome)"
    "${PNPM[@]}" exec biome check . || status=1
    log "tests (every package; servers are started by the tests themselves)"
    "${PNPM[@]}" exec turbo run test --concurrency=2 --continue || status=1
    log "repository checks"
    node --test --test-reporter=spec --test-reporter=tap --test-reporter-destination=stdout \
      --test-reporter-destination=.test-results-repo.tap scripts/repo-shape.test.mjs scripts/sum-test-results.test.mjs scripts/create-store.test.mjs || status=1
    node scripts/sum-test-results.mjs || status=1
    exit $status
    ;;
  *)
    echo "usage: bash scripts/run.sh demo|test" >&2
    exit 2
    ;;
esac
