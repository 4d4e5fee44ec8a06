#!/usr/bin/env bash
# Run the ADL LRS conformance test suite (xAPI 1.0.3) against a DreamSeed LRS, from OUTSIDE this
# repository. Needs Node.js 20 and npm (registry access for the suite's dependencies).
#
#   bench/lrs/conformance.sh                 # fetch + install the suite, start an LRS, run, report
#   bench/lrs/conformance.sh URL KEY SECRET  # against an LRS already running (e.g. `make demo`'s)
#   SUITE_DIR=/path/to/suite ENDPOINT=http://127.0.0.1:8000/xapi KEY=… SECRET=… bench/lrs/conformance.sh
#
# URL is the xAPI endpoint (http://host:port/xapi); KEY / SECRET a Basic credential issued for it
# (`dreamseed lrs issue --issued-by ADMIN --name conformance --scope all` with that LRS's
# settings). Without an endpoint it makes a scratch database (lrs_conformance), an admin, a
# credential with the scope `all`, serves `dreamseed serve lrs users` on port 8765 and stops it
# afterwards. The suite writes its JSON log to $SUITE_DIR/logs/; the failing tests are listed.
set -euo pipefail
if [ $# -ne 0 ] && [ $# -ne 3 ]; then
  echo "usage: $0 [URL KEY SECRET]" >&2
  exit 2
fi
if [ $# -eq 3 ]; then
  ENDPOINT=${1%/} KEY=$2 SECRET=$3
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE_DIR=${SUITE_DIR:-$ROOT/../lrs-conformance}
DREAMSEED=${DREAMSEED:-$ROOT/.venv/bin/dreamseed}

if [ ! -f "$SUITE_DIR/bin/console_runner.js" ]; then
  git clone --depth 1 https://github.com/adlnet/lrs-conformance-test-suite "$SUITE_DIR"
fi
(cd "$SUITE_DIR" && [ -d node_modules ] || npm install --no-audit --no-fund)

SERVER_PID=""
if [ -z "${ENDPOINT:-}" ]; then
  export DREAMSEED_DATABASE_URL=${DREAMSEED_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/lrs_conformance}
  export DREAMSEED_RATE_LIMIT_PER_IP=100000000 DREAMSEED_RATE_LIMIT_PER_USER=100000000
  "$DREAMSEED" migrate
  ADMIN=lrs-admin@conformance.test
  echo "conformance-$RANDOM$RANDOM" | "$DREAMSEED" users create --email $ADMIN --name "LRS admin" \
    --role admin --password-stdin 2>/dev/null || true
  CRED=$("$DREAMSEED" lrs issue --issued-by $ADMIN --name conformance-suite --scope all)
  KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$CRED")
  SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$CRED")
  "$DREAMSEED" serve lrs users --port 8765 --no-relay > /tmp/lrs-conformance-server.log 2>&1 &
  SERVER_PID=$!
  trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID"' EXIT
  ENDPOINT=http://127.0.0.1:8765/xapi
  for _ in $(seq 120); do curl -sf "$ENDPOINT/about" > /dev/null && break; sleep 1; done
fi

cd "$SUITE_DIR"
node bin/console_runner.js -e "$ENDPOINT" -a -u "$KEY" -p "$SECRET" -x 1.0.3 | tail -5 || true
LOG=$(ls -t logs/*.log | head -1)
python3 - "$LOG" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
failed = []
def walk(node, path):
    tests = node.get("tests") or []
    if not tests and node.get("status") == "failed":
        failed.append(" > ".join(p for p in path + [node.get("title") or node.get("name", "")] if p))
    for t in tests:
        walk(t, path + [node.get("title") or node.get("name", "")])
walk(log["log"], [])
print(json.dumps(log.get("summary")))
for name in failed:
    print("FAILED:", name)
PY
