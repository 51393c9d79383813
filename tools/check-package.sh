#!/usr/bin/env bash
# Checks the Drt.Overlay NuGet package: packs it, looks inside (assemblies, XML docs, readme, license, dependencies,
# symbols), checks that only src/Drt.Overlay is packable, and rebuilds from scratch to check that the build is
# deterministic (the same assemblies and PDBs, byte for byte). The .nupkg files themselves differ between packs (zip
# timestamps, a random id in the package metadata), so the files inside them are compared.
# Usage: tools/check-package.sh   (CI runs it after the tests; it exits non-zero on the first problem)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

fail() { echo "check-package: FAIL: $*" >&2; exit 1; }

if ! command -v unzip >/dev/null 2>&1; then
  echo "check-package: unzip not found; installing it" >&2
  (apt-get update -qq && apt-get install -y -qq unzip) >&2 || fail "could not install unzip"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
project=src/Drt.Overlay

# Only the Drt.Overlay library is a package: Wire ships inside it; Simulation, tests, benchmarks and tools are not.
git ls-files '*.csproj' | xargs -P 4 -I{} sh -c 'echo "{} $(dotnet msbuild "{}" -getProperty:IsPackable 2>&1 | tr -d "[:space:]")"' >"$tmp/packable"
while read -r csproj packable; do
  expected=false
  [ "$csproj" = "$project/Drt.Overlay.csproj" ] && expected=true
  [ "$packable" = "$expected" ] || fail "$csproj: IsPackable is '$packable', expected $expected"
done <"$tmp/packable"
[ "$(wc -l <"$tmp/packable")" -ge 2 ] || fail "no projects found"

# First pack: incremental (after CI's build it only packs).
dotnet pack "$project" -c Release -o "$tmp/first" >"$tmp/pack.log" 2>&1 || { cat "$tmp/pack.log" >&2; fail "dotnet pack failed"; }
shopt -s nullglob
packages=("$tmp"/first/*.nupkg)
[ "${#packages[@]}" -eq 1 ] || fail "expected one .nupkg, got: ${packages[*]:-none}"
nupkg=${packages[0]}
case "$(basename "$nupkg")" in
  Drt.Overlay.[0-9]*.nupkg) ;;
  *) fail "unexpected package name $(basename "$nupkg")" ;;
esac
snupkg=${nupkg%.nupkg}.snupkg
[ -f "$snupkg" ] || fail "no symbols package $(basename "$snupkg")"

listing=$(unzip -l "$nupkg")
for entry in lib/net10.0/Drt.Overlay.dll lib/net10.0/Drt.Overlay.xml lib/net10.0/Drt.Overlay.Wire.dll \
  lib/net10.0/Drt.Overlay.Wire.xml PACKAGE.md LICENSE Drt.Overlay.nuspec; do
  grep -qE "[[:space:]]${entry//./\\.}\$" <<<"$listing" || fail "$(basename "$nupkg") has no $entry"
done
grep -qE '\.pdb$' <<<"$listing" && fail "$(basename "$nupkg") carries PDBs; they belong in the symbols package"
symbols=$(unzip -l "$snupkg")
for entry in lib/net10.0/Drt.Overlay.pdb lib/net10.0/Drt.Overlay.Wire.pdb; do
  grep -qE "[[:space:]]${entry//./\\.}\$" <<<"$symbols" || fail "$(basename "$snupkg") has no $entry"
done

# The XML docs cover the public API (CS1591 is an error, so a missing one fails the build; here: they are shipped).
grep -qF 'name="T:Drt.Overlay.DrtInstance"' <<<"$(unzip -p "$nupkg" lib/net10.0/Drt.Overlay.xml)" || fail "Drt.Overlay.xml does not document DrtInstance"
grep -qF 'name="T:Drt.Overlay.Wire.Key256"' <<<"$(unzip -p "$nupkg" lib/net10.0/Drt.Overlay.Wire.xml)" || fail "Drt.Overlay.Wire.xml does not document Key256"

nuspec=$(unzip -p "$nupkg" Drt.Overlay.nuspec)
for expected in '<id>Drt.Overlay</id>' '<license type="expression">MIT</license>' '<readme>PACKAGE.md</readme>' \
  '<description>' '<authors>' '<tags>' '<repository type="git"' '<dependency id="MessagePack"'; do
  grep -qF "$expected" <<<"$nuspec" || fail "the nuspec has no $expected"
done
grep -qF 'id="Drt.Overlay.Wire"' <<<"$nuspec" && fail "the nuspec depends on Drt.Overlay.Wire, which ships inside the package"

# Second pack after a full rebuild of Drt.Overlay and Wire: the assemblies and PDBs must be the same bytes.
dotnet build "$project" -c Release --no-incremental >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; fail "rebuild failed"; }
dotnet pack "$project" -c Release --no-build -o "$tmp/second" >"$tmp/pack.log" 2>&1 || { cat "$tmp/pack.log" >&2; fail "second dotnet pack failed"; }
for run in first second; do
  mkdir -p "$tmp/$run/x"
  unzip -q "$tmp/$run"/*.nupkg -d "$tmp/$run/x"
  unzip -q -o "$tmp/$run"/*.snupkg 'lib/*' -d "$tmp/$run/x"
  (cd "$tmp/$run/x" && find lib -type f | sort | xargs sha256sum) >"$tmp/$run.sums"
done
diff "$tmp/first.sums" "$tmp/second.sums" >&2 || fail "a rebuild changed the packaged files: the build is not deterministic (or bin/ was built with other settings, e.g. CI=true then not: build once with --no-incremental and run this again)"

echo "check-package: ok: $(basename "$nupkg") ($(grep -c . "$tmp/first.sums") files in lib/, identical after a rebuild), $(basename "$snupkg")"
