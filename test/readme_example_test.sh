#!/usr/bin/env bash
# The README's example must be the file that the build compiles and the suite runs.
set -eu
readme=$1 example=$2
extracted=$(awk '/^## Example/{f=1} f&&/^```cpp/{g=1;next} g&&/^```/{exit} g' "$readme")
if [ "$extracted" != "$(cat "$example")" ]; then
  echo "README.md's example differs from $example; update one from the other"
  diff <(printf '%s\n' "$extracted") "$example" || true
  exit 1
fi
echo "README example matches $example"
