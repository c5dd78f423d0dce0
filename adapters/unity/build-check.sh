#!/usr/bin/env bash
# Compiles with Debian's Mono C# compiler (apt-get install -y mono-mcs) every part of the Unity client that needs
# neither UnityEngine nor Google.Protobuf, into a library, then builds and runs the console tests in Tests/ against it.
# Then type-checks the rest (the protoc-generated classes, WorldlineClient, the MonoBehaviour wrapper) against
# compile-only surfaces of Google.Protobuf and UnityEngine (Tests/TypeCheck/), which are never run.
# Exits non-zero on any compile error or warning (warnings are errors), or any failed check.
#
#   adapters/unity/build-check.sh               build, test, type-check
#   WORLDLINE_BUILD_DIR=/tmp/x build-check.sh   keep the build outputs there (default: a temporary directory)
#
# What this cannot tell (see README.md, "What build-check.sh compiles"): whether the generated classes and the
# client work against the real Google.Protobuf runtime, and whether the wrapper works in a Unity player; neither
# Google.Protobuf nor UnityEngine is packaged for Debian.
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
mapfile -t tests < <(find Tests -name '*.cs' -not -path 'Tests/TypeCheck/*' | LC_ALL=C sort)
mapfile -t needs_deps < <(find Runtime/Generated Runtime/Client Runtime/Unity -name '*.cs' | LC_ALL=C sort)

flags=(-langversion:Default -warnaserror+ -nowarn:1591 -r:System.Numerics -debug)
echo "mcs $(mcs --version | sed 's/^Mono C# compiler version //'): compiling ${#core[@]} files into Worldline.Client.Core.dll"
mcs "${flags[@]}" -target:library -doc:"$out/Worldline.Client.Core.xml" -out:"$out/Worldline.Client.Core.dll" "${core[@]}"
echo "mcs: compiling ${#tests[@]} test files into worldline-client-tests.exe"
mcs "${flags[@]}" -target:exe -r:"$out/Worldline.Client.Core.dll" -out:"$out/worldline-client-tests.exe" "${tests[@]}"

echo "mcs: type-checking ${#needs_deps[@]} files that need Google.Protobuf or UnityEngine, against compile-only surfaces (not run)"
mcs "${flags[@]}" -target:library -out:"$out/Google.Protobuf.Surface.dll" Tests/TypeCheck/GoogleProtobufSurface.cs
mcs "${flags[@]}" -target:library -out:"$out/UnityEngine.Surface.dll" Tests/TypeCheck/UnityEngineSurface.cs
# mcs has no ref structs, so the generated code is compiled in its compatibility mode; the ref-struct paths that
# Unity compiles are only parsed (next step).
mcs "${flags[@]}" -target:library -define:GOOGLE_PROTOBUF_REFSTRUCT_COMPATIBILITY_MODE \
  -r:"$out/Google.Protobuf.Surface.dll" -r:"$out/UnityEngine.Surface.dll" -out:"$out/Worldline.Client.TypeCheck.dll" "${core[@]}" "${needs_deps[@]}"
mcs --parse "${needs_deps[@]}"

echo "mono: running the tests"
MONO_ENV_OPTIONS="${MONO_ENV_OPTIONS:-} --debug" mono "$out/worldline-client-tests.exe" "$repo"
