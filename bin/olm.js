#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=100 --expose-gc
// --max-semi-space-size: the pack indexer makes many short-lived buffers, and
// V8's default young generation lets them pile up to ~50 MB more peak memory
// for no speed (measured: a cold add of one package from a 15 MiB pack peaks
// at 97 MB instead of 150 MB, in the same time). It must be a node flag:
// v8.setFlagsFromString at run time comes too late.
// --heap-growing-percent=100: a full collection when the heap has doubled
// since the last one; V8's default lets it grow up to 4x, and in a resolve
// most of that growth is garbage (measured on the bench's 10-package bump of
// a 1,157-package closure: peak RSS 150 -> 140 MB, same time).
// --expose-gc: olm collects between its phases (src/util/collect-garbage.ts).
// dist/olm.mjs is dist/cli/main.js bundled into one file (scripts/bundle.mjs): start-up time.
import { main } from '../dist/olm.mjs'

process.exitCode = await main(process.argv.slice(2))
