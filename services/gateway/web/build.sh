#!/usr/bin/env bash
# Builds the browser test's page: the client generated from the protos (protoc-gen-es, run by grpc_tools' protoc
# from the venv), type-checked (tsc) and bundled (esbuild) into dist/ beside index.html.
#   services/gateway/web/build.sh [path/to/python]   (make gateway-web runs it; npm ci first installs the lockfile)
set -euo pipefail
web=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$web/../../.." && pwd)
py=${1:-$root/.venv/bin/python}
site=$("$py" -c 'import google.rpc, os; print(os.path.dirname(os.path.dirname(google.rpc.__path__[0])))')
rm -rf "$web/src/gen" "$web/dist"
mkdir -p "$web/src/gen" "$web/dist"
(cd "$root/protos" && "$py" -m grpc_tools.protoc -I . -I "$site" \
  --plugin=protoc-gen-es="$web/node_modules/.bin/protoc-gen-es" --es_out="$web/src/gen" --es_opt=target=ts \
  sotong/gateway/v1/gateway_service.proto sotong/intake/v1/intake_types.proto sotong/common/v1/geo.proto \
  google/rpc/error_details.proto)
(cd "$web" && node_modules/.bin/tsc -p tsconfig.json)
(cd "$web" && node_modules/.bin/esbuild src/page.ts --bundle --format=esm --target=es2022 --log-level=warning \
  --outfile=dist/page.js)
cp "$web/index.html" "$web/dist/index.html"
echo "gateway web page built: $web/dist (index.html, page.js)"
