#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to the project's
# PublicAPI.Unshipped.txt, and removes the unshipped ones reported as gone (RS0017), so a changed public member is a
# deliberate, reviewed line in the diff.
# Usage: tools/update-public-api.sh src/Drt.Overlay.Wire
set -euo pipefail
project_dir=${1:?usage: tools/update-public-api.sh src/PROJECT}
unshipped="$project_dir/PublicAPI.Unshipped.txt"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet build "$project_dir" -c Debug -p:TreatWarningsAsErrors=false --no-incremental >"$log" 2>&1 || true
# Lines look like: ...: warning RS0016: Symbol 'X.Y() -> void' is not part of the declared public API (...)
grep -o "RS0016: Symbol '.*' is not part of the declared public API" "$log" \
  | sed -e "s/^RS0016: Symbol '//" -e "s/' is not part of the declared public API$//" \
  | sort -u >"$log.new" || true
grep -o "RS0017: Symbol '.*' is part of the declared API" "$log" \
  | sed -e "s/^RS0017: Symbol '//" -e "s/' is part of the declared API$//" \
  | sort -u >"$log.gone" || true
added=$(wc -l <"$log.new")
removed=$(wc -l <"$log.gone")
if [ "$added" -gt 0 ] || [ "$removed" -gt 0 ]; then
  { grep -v '^#nullable' "$unshipped" || true; cat "$log.new"; } | grep -vxF -f "$log.gone" | sort -u >"$log.all" || true
  { echo '#nullable enable'; cat "$log.all"; } >"$unshipped"
fi
rm -f "$log.new" "$log.gone" "$log.all"
echo "$added symbol(s) added to, $removed removed from $unshipped"
