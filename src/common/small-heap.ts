import { setFlagsFromString } from 'node:v8'

// Imported first by entry points that hold one record per file of a large tree (100,000 DAG and
// SQL files). By default V8 lets garbage pile up to about three times the live heap before a full
// collection, and keeps a young generation of up to 128 MiB: a deploy whose live data is some
// 120 MiB then peaks above 700 MiB of RSS, near the memory of a small runner. optimize-for-size
// makes V8 collect sooner and keep less; measured at 100,000 files it roughly halves the peak at
// about the same wall time (BENCHMARKS.md, deploy-dags at scale).
//
// The runner starts `node <bundle>` with no way to pass V8 flags, so the flag is set from inside.
// V8 reads it at every collection, so setting it after start-up takes effect; a runtime that
// ignored it would only give back the default behaviour.
setFlagsFromString('--optimize-for-size')
