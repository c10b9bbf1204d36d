#!/usr/bin/env bash
# buf lint (STANDARD) and buf breaking (FILE) against main's history.
# The baseline is HEAD when proto/ has uncommitted changes, else HEAD's parent, so a clean clone
# checks the newest commit and a working tree checks what it is about to commit.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=node_modules/.bin/buf

"$buf" lint
if ! git rev-parse -q --verify HEAD >/dev/null; then
  echo "buf breaking: no commit yet, nothing to compare"; exit 0
fi
if [ -n "$(git status --porcelain -- proto)" ]; then base=HEAD; else base=HEAD~1; fi
if ! git rev-parse -q --verify "$base" >/dev/null || [ -z "$(git ls-tree "$base" proto)" ]; then
  echo "buf breaking: $base has no proto/, nothing to compare"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$base" proto buf.yaml | tar -x -C "$tmp"
mkdir -p "$tmp/.buf-deps" && cp -r .buf-deps/googleapis "$tmp/.buf-deps/"
"$buf" build "$tmp" -o "$tmp/base.binpb"
"$buf" build -o "$tmp/current.binpb"
# Images carry no buf.yaml: buf's default breaking category is FILE, as configured in buf.yaml.
"$buf" breaking "$tmp/current.binpb" --against "$tmp/base.binpb"
echo "buf lint and buf breaking (against $base) passed"
