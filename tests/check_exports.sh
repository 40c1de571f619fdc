#!/usr/bin/env bash
# tests/check_exports.sh LIB: the shared library exports actk's public API and nothing else
# (no actk::detail, no std:: instantiations, no third-party symbols).
set -euo pipefail
lib=$1
syms=$(nm -D --defined-only -C "$lib" | awk '$2 ~ /^[TWVBDR]$/ { $1 = ""; $2 = ""; sub(/^  /, ""); print }')
bad=$(printf '%s\n' "$syms" | grep -vE '^(actk_[a-z0-9_]+|actk::[A-Za-z_][A-Za-z0-9_]*(\(.*\)( const)?)?|(typeinfo|typeinfo name|vtable) for actk::Error|actk::Error::.*|_init|_fini)$' || true)
count=$(printf '%s\n' "$syms" | grep -cE '^(actk_|actk::)' || true)
echo "$count actk symbols exported"
if [ -n "$bad" ]; then
  echo "symbols exported that are not actk's public API:"
  printf '%s\n' "$bad" | head -40
  exit 1
fi
printf '%s\n' "$syms" | grep -q '^actk_forward$' || { echo "actk_forward is not exported"; exit 1; }
printf '%s\n' "$syms" | grep -q '^actk::forward(' || { echo "actk::forward is not exported"; exit 1; }
if printf '%s\n' "$syms" | grep -q 'actk::detail'; then echo "actk::detail is exported"; exit 1; fi
echo "ok: only the public API is exported"
