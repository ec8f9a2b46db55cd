#!/usr/bin/env bash
# The HDF5 tools read a spill file: h5ls lists /index and /objects, h5dump shows the chunked
# layout and the Fletcher-32 filter, and dumps /index and /objects without errors (the latter
# checks every chunk's checksum with the library's own filter).
# Usage: h5tools_check.sh SAMPLE_PROGRAM SCRATCH_DIR
set -euo pipefail
sample=$1
dir=$2
rm -rf "$dir"
mkdir -p "$dir"
file=$dir/rank-0.h5
"$sample" "$file"

fail() {
  echo "FAILED: $1"
  echo "$2"
  exit 1
}

listing=$(h5ls -r "$file")
grep -Eq '^/index +Dataset' <<<"$listing" || fail "h5ls -r shows no /index" "$listing"
grep -Eq '^/objects +Dataset' <<<"$listing" || fail "h5ls -r shows no /objects" "$listing"

header=$(h5dump -p -H "$file")
grep -q 'CHECKSUM FLETCHER32' <<<"$header" || fail "h5dump -p -H shows no Fletcher-32" "$header"
grep -q 'CHUNKED ( 4096 )' <<<"$header" || fail "h5dump -p -H shows no 4096-byte chunks" "$header"
format=$(h5dump -a /format "$file") || fail "h5dump -a /format failed" "$format"
grep -q '"manta spill file 1"' <<<"$format" || fail "the format attribute is wrong" "$format"

index=$(h5dump -d /index "$file") || fail "h5dump -d /index failed" "$index"
for field in key_hi key_lo offset size live; do
  grep -q "\"$field\"" <<<"$index" || fail "/index has no field $field" "$index"
done
objects=$(h5dump -d /objects "$file" 2>&1) || fail "h5dump -d /objects failed" "$objects"
echo "h5ls and h5dump read $file"
