#!/usr/bin/env bash
# A real-browser check of the progress picture (GET /cohorts/{id}/progress.svg).
#
# Starts `afterclass serve --demo` on a throwaway SQLite file and a free port, mints a signed
# chart link through GraphQL with the demo instructor's token, opens that link in headless
# Chromium WITHOUT any token (as an <img> in an LMS page would), and saves a screenshot. It then
# checks that the PNG exists and is not trivially small or blank-sized; look at it to judge the
# chart itself:
#
#   tests/browser/check-progress-chart.sh            # screenshot at /tmp/progress-chart.png
#   SCREENSHOT=/tmp/other.png tests/browser/check-progress-chart.sh
#
# Needs chromium, curl and jq. Not part of .ci/run: it needs a browser and a display-free
# Chromium, which CI machines do not promise.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
SCREENSHOT="${SCREENSHOT:-/tmp/progress-chart.png}"
MIN_PNG_BYTES="${MIN_PNG_BYTES:-8000}"

if [ ! -x "$CHROMIUM" ]; then
  echo "chromium is not installed at $CHROMIUM. Install it with:" >&2
  echo "  apt-get update && apt-get install -y chromium" >&2
  echo "(or set CHROMIUM=/path/to/chromium)" >&2
  exit 2
fi
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is required: apt-get install -y $tool" >&2; exit 2; }
done

echo "== building afterclass"
cargo build -q -p afterclass
BIN="${CARGO_TARGET_DIR:-target}/debug/afterclass"

WORK="$(mktemp -d)"
PROFILE="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK" "$PROFILE"
}
trap cleanup EXIT

# A store of its own, its own local signing secret, and nothing from the caller's environment.
unset AFTERCLASS_JWT_SECRET AFTERCLASS_JWT_PUBLIC_KEY_FILE AFTERCLASS_JWT_ISSUER AFTERCLASS_JWT_AUDIENCE \
  AFTERCLASS_LINK_SECRET AFTERCLASS_PUBLIC_URL AFTERCLASS_BIND
export DATABASE_URL="sqlite://$WORK/afterclass.db"
export AFTERCLASS_SWEEP_INTERVAL=off
export AFTERCLASS_LOG=warn

echo "== serving the demo on a free port"
# Port 0: the system picks a free port; the server prints the address it bound.
"$BIN" serve --demo --bind 127.0.0.1:0 >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 120); do
  ADDR="$(sed -n 's#^Afterclass is serving GraphQL at http://\([^/]*\)/graphql.*#\1#p' "$WORK/serve.log" | head -n 1)"
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "the server exited" >&2; exit 1; }
  sleep 0.5
done
[ -n "$ADDR" ] || { cat "$WORK/serve.log" >&2; echo "the server did not start" >&2; exit 1; }
BASE="http://$ADDR"
echo "   $BASE"

TOKEN="$("$BIN" token --sub ada --role instructor --tenant demo --ttl 30m)"
gql() {
  curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "$1" "$BASE/graphql"
}

echo "== minting a chart link as the demo instructor"
COHORT="$(gql '{"query":"{ cohorts(first: 1) { nodes { id name } } }"}' | jq -er '.data.cohorts.nodes[0].id')"
LINK="$(gql "$(jq -cn --arg id "$COHORT" '{query: "query($id: ID!) { cohort(id: $id) { progressChartUrl } }", variables: {id: $id}}')" |
  jq -er '.data.cohort.progressChartUrl')"
case "$LINK" in
  /cohorts/"$COHORT"/progress.svg\?exp=*\&sig=*) ;;
  *) echo "unexpected link: $LINK" >&2; exit 1 ;;
esac
URL="$BASE$LINK"
echo "   $URL"

echo "== fetching it without a token"
HEADERS="$(curl -sS -o "$WORK/chart.svg" -D - "$URL")"
echo "$HEADERS" | head -n 1 | grep -q ' 200' || { echo "$HEADERS" >&2; exit 1; }
echo "$HEADERS" | grep -qi '^content-type: image/svg+xml' || { echo "$HEADERS" >&2; exit 1; }
grep -q '<polyline class="actual"' "$WORK/chart.svg" || { echo "no progress line in the SVG" >&2; exit 1; }
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/cohorts/$COHORT/progress.svg")"
[ "$STATUS" = 401 ] || { echo "without the link: expected 401, got $STATUS" >&2; exit 1; }

echo "== screenshot with headless Chromium"
rm -f "$SCREENSHOT"
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$PROFILE" --screenshot="$SCREENSHOT" --window-size=900,600 "$URL" \
  >"$WORK/chromium.log" 2>&1 || { cat "$WORK/chromium.log" >&2; echo "chromium failed" >&2; exit 1; }

[ -s "$SCREENSHOT" ] || { cat "$WORK/chromium.log" >&2; echo "no screenshot at $SCREENSHOT" >&2; exit 1; }
MAGIC="$(head -c 8 "$SCREENSHOT" | od -An -tx1 | tr -d ' \n')"
[ "$MAGIC" = 89504e470d0a1a0a ] || { echo "$SCREENSHOT is not a PNG" >&2; exit 1; }
WIDTH=$((16#$(od -An -tx1 -j16 -N4 "$SCREENSHOT" | tr -d ' \n')))
HEIGHT=$((16#$(od -An -tx1 -j20 -N4 "$SCREENSHOT" | tr -d ' \n')))
BYTES="$(wc -c <"$SCREENSHOT")"
echo "   $SCREENSHOT: ${WIDTH}x${HEIGHT}, $BYTES bytes"
[ "$WIDTH" -gt 0 ] && [ "$HEIGHT" -gt 0 ] || { echo "the PNG has no size" >&2; exit 1; }
# A blank page of this size compresses to a few kilobytes; a chart with lines and text does not.
[ "$BYTES" -ge "$MIN_PNG_BYTES" ] || { echo "the screenshot is suspiciously small (blank?)" >&2; exit 1; }
echo "OK: the chart rendered in Chromium from a signed link; look at $SCREENSHOT"
