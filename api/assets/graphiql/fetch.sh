#!/usr/bin/env bash
# Re-downloads the vendored GraphiQL files from the npm registry (with `npm pack`, which checks
# each package's registry integrity) and checks every file against SHA256SUMS before it replaces
# the copy here. Run from anywhere: `api/assets/graphiql/fetch.sh`. Nothing changes when a sum
# does not match.
set -euo pipefail
cd "$(dirname "$0")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# package@version  path-in-package  name-here
files=(
  "graphiql@3.9.0   graphiql.min.js                   graphiql.min.js"
  "graphiql@3.9.0   graphiql.min.css                  graphiql.min.css"
  "graphiql@3.9.0   LICENSE                           LICENSE.graphiql"
  "react@18.3.1     umd/react.production.min.js       react.production.min.js"
  "react@18.3.1     LICENSE                           LICENSE.react"
  "react-dom@18.3.1 umd/react-dom.production.min.js   react-dom.production.min.js"
  "react-dom@18.3.1 LICENSE                           LICENSE.react-dom"
)

mkdir -p "$work/out"
for line in "${files[@]}"; do
  read -r spec src dst <<<"$line"
  dir="$work/pkg/$spec"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    tarball="$(npm pack --silent --pack-destination "$work" "$spec" | tail -n 1)"
    tar -xzf "$work/$tarball" -C "$dir"
  fi
  cp "$dir/package/$src" "$work/out/$dst"
done

cp SHA256SUMS "$work/out/SHA256SUMS"
(cd "$work/out" && sha256sum --check --strict SHA256SUMS)
rm "$work/out/SHA256SUMS"
cp "$work/out/"* .
echo "the vendored GraphiQL files match SHA256SUMS"
