#!/usr/bin/env bash
# Compiles with Debian's Mono C# compiler (apt-get install -y mono-mcs) every part of the Unity client that needs
# neither UnityEngine nor Google.Protobuf, into a library, then builds and runs the console tests in Tests/ against it.
# Exits non-zero on any compile error, warning-as-error, or failed check.
#
#   adapters/unity/build-check.sh            build, test, and syntax-check the files that cannot be compiled here
#   WORLDLINE_BUILD_DIR=/tmp/x build-check.sh  put the build outputs there (default: a temporary directory)
#
# Not compiled here (see README.md, "What build-check.sh compiles"): Runtime/Generated/Worldline.cs and
# Runtime/Client/*.cs need the Google.Protobuf assembly, Runtime/Unity/*.cs needs UnityEngine; neither is packaged
# for Debian. They are parsed with `mcs --parse`, which catches syntax errors but not type errors.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

for tool in mcs mono; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-check.sh: $tool not found; install it with: apt-get install -y mono-mcs" >&2
    exit 2
  fi
done

out="${WORLDLINE_BUILD_DIR:-}"
if [[ -z "$out" ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# Everything under Runtime/ except what needs Google.Protobuf or UnityEngine.
mapfile -t core < <(find Runtime -name '*.cs' -not -path 'Runtime/Generated/*' -not -path 'Runtime/Client/*' -not -path 'Runtime/Unity/*' | LC_ALL=C sort)
mapfile -t tests < <(find Tests -name '*.cs' | LC_ALL=C sort)
mapfile -t parse_only < <(find Runtime/Generated Runtime/Client Runtime/Unity -name '*.cs' 2>/dev/null | LC_ALL=C sort)

flags=(-langversion:Default -warnaserror+ -nowarn:1591 -r:System.Numerics -debug)
echo "mcs $(mcs --version | sed 's/^Mono C# compiler version //'): compiling ${#core[@]} files into Worldline.Client.Core.dll"
mcs "${flags[@]}" -target:library -doc:"$out/Worldline.Client.Core.xml" -out:"$out/Worldline.Client.Core.dll" "${core[@]}"
echo "mcs: compiling ${#tests[@]} test files into worldline-client-tests.exe"
mcs "${flags[@]}" -target:exe -r:"$out/Worldline.Client.Core.dll" -out:"$out/worldline-client-tests.exe" "${tests[@]}"

if (( ${#parse_only[@]} > 0 )); then
  echo "mcs --parse (syntax only; these need Google.Protobuf or UnityEngine): ${parse_only[*]}"
  mcs --parse "${parse_only[@]}"
fi

echo "mono: running the tests"
MONO_ENV_OPTIONS="${MONO_ENV_OPTIONS:-} --debug" mono "$out/worldline-client-tests.exe" "$repo"
