#!/usr/bin/env bash
# Generates Python code and typing stubs from protos/ into services/common/src (package `sotong.*`).
#   tools/proto.sh          regenerate in place
#   tools/proto.sh --check  regenerate into a temporary directory and fail if the committed code drifted
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=$(realpath -s "${PYTHON:-$root/.venv/bin/python}")
out=$root/services/common/src
mode=write
[ "${1:-}" = "--check" ] && mode=check
if [ "$mode" = check ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
protos=$(cd "$root/protos" && find sotong -name '*.proto' | sort)
if [ "$mode" = write ]; then
  find "$out/sotong" \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \) -delete 2>/dev/null || true
fi
(cd "$root/protos" && "$py" -m grpc_tools.protoc -I . \
  --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-mypy="$(dirname "$py")/protoc-gen-mypy" --mypy_out="$out" \
  --plugin=protoc-gen-mypy_grpc="$(dirname "$py")/protoc-gen-mypy_grpc" --mypy_grpc_out="$out" \
  $protos)
if [ "$mode" = check ]; then
  if ! diff -r -q -x '__pycache__' -x '*.pyc' "$out/sotong" "$root/services/common/src/sotong"; then
    echo "Generated protobuf code drifted from protos/: run 'make proto' and commit the result." >&2
    exit 1
  fi
  echo "proto: generated code matches protos/"
fi
