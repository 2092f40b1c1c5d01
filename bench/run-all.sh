#!/usr/bin/env bash
# Runs ferry's benchmarks (issue 2) and refreshes the tables in bench/README.md.
#
#   bench/run-all.sh                      all of them, in the order below
#   bench/run-all.sh startup rss-1gb      only these
#   BENCH_RUNS=1 bench/run-all.sh         one run each (a smoke run: the numbers mean little)
#
# Environment: BENCH_SKIP_BUILD=1 skips `npm run build` (dist/ as it is); BENCH_BUILD_DIR puts the
# compiled benchmarks somewhere else than bench/.build (it must stay inside the checkout, so that
# node finds node_modules); BENCH_STARTUP_ROUNDS / BENCH_STARTUP_RUNS tune the start-up benchmark.
# Needs: Node 22, docker-registry, buildah, skopeo, hyperfine, GNU time (/usr/bin/time), busybox-static, kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(startup reproducible repush-unchanged one-file-change build-push-150mb rss-1gb hybrid-edit batch-api-calls batch-array-poll k8s-api-calls)

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null 2>&1 || [ "$(node_major node)" -lt 22 ]; then
  for d in /opt/node22/node_modules/node/bin "${FERRY_CI_NODE_DIR:-$HOME/.cache/ferry-ci/node22}/node_modules/node/bin"; do
    if [ -x "$d/node" ] && [ "$(node_major "$d/node")" -ge 22 ]; then export PATH="$d:$PATH"; break; fi
  done
fi
if [ "$(node_major node)" -lt 22 ]; then echo "bench: needs Node.js 22 or newer (see .ci/run)" >&2; exit 1; fi

missing=()
for cmd in docker-registry buildah skopeo hyperfine /usr/bin/time busybox kubectl; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then echo "bench: missing ${missing[*]}" >&2; exit 1; fi

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for n in "${names[@]}"; do
  case " ${all[*]} " in *" $n "*) ;; *) echo "bench: unknown benchmark '$n' (known: ${all[*]})" >&2; exit 64 ;; esac
done

out=${BENCH_BUILD_DIR:-bench/.build}
[ "${BENCH_SKIP_BUILD:-}" = 1 ] || npm run --silent build
npx tsc -p bench/tsconfig.json --outDir "$out"

failed=()
for n in "${names[@]}"; do
  echo "=== $n ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  node "$out/bench/$n.js" || failed+=("$n")
done
node "$out/bench/report.js"

if [ ${#failed[@]} -gt 0 ]; then echo "bench: failed: ${failed[*]}" >&2; exit 1; fi
