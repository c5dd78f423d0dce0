#!/usr/bin/env bash
# Regenerates the Google.Protobuf classes of the wire contract (Runtime/Generated/Worldline.cs) from
# proto/worldline.proto with Debian's protoc (apt-get install -y protobuf-compiler).
#
#   adapters/unity/generate.sh           rewrite Runtime/Generated/Worldline.cs
#   adapters/unity/generate.sh --check   exit 1 when the committed file is not what protoc generates now
#
# --check exits 0 when up to date, 1 when stale, 2 when protoc is missing. When this protoc is another version than
# the one that generated the committed file (recorded in its first line), the code may differ in form only, so the
# check then compares the embedded schema (the serialized FileDescriptorProto), which is what the wire depends on.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="$here/Runtime/Generated/Worldline.cs"

if ! command -v protoc >/dev/null 2>&1; then
  echo "generate.sh: protoc not found; install it with: apt-get install -y protobuf-compiler" >&2
  exit 2
fi
version="$(protoc --version)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
protoc --proto_path="$repo/proto" --csharp_out="$tmp" "$repo/proto/worldline.proto"
{
  echo "// $version; regenerate with adapters/unity/generate.sh (do not edit)"
  cat "$tmp/Worldline.cs"
} >"$tmp/Worldline.stamped.cs"

# The base64 FileDescriptorProto inside a generated file.
descriptor() {
  sed -n '/FromBase64String(/,/));/p' "$1" | grep -o '"[A-Za-z0-9+/=]*"' | tr -d '"\n'
}

if [[ "${1:-}" == "--check" ]]; then
  if [[ ! -f "$target" ]]; then
    echo "generate.sh --check: $target is missing; run adapters/unity/generate.sh" >&2
    exit 1
  fi
  if cmp -s "$target" "$tmp/Worldline.stamped.cs"; then
    echo "generate.sh --check: Runtime/Generated/Worldline.cs is up to date ($version)"
    exit 0
  fi
  committed_version="$(head -1 "$target" | sed -n 's#^// \(libprotoc [^;]*\);.*#\1#p')"
  if [[ "$committed_version" != "$version" ]] && [[ -n "$(descriptor "$target")" ]] && [[ "$(descriptor "$target")" == "$(descriptor "$tmp/Worldline.cs")" ]]; then
    echo "generate.sh --check: same schema as proto/worldline.proto (committed file from ${committed_version:-an unknown protoc}, this is $version; the code differs in form only)"
    exit 0
  fi
  echo "generate.sh --check: Runtime/Generated/Worldline.cs is stale: proto/worldline.proto changed; run adapters/unity/generate.sh and commit" >&2
  diff -u "$target" "$tmp/Worldline.stamped.cs" | head -40 >&2 || true
  exit 1
fi

mkdir -p "$(dirname "$target")"
cp "$tmp/Worldline.stamped.cs" "$target"
echo "wrote ${target#"$repo"/} ($version)"
