#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size: the pack indexer makes many short-lived buffers, and
// V8's default young generation lets them pile up to ~50 MB more peak memory
// for no speed (measured: a cold add of one package from a 15 MiB pack peaks
// at 97 MB instead of 150 MB, in the same time). It must be a node flag:
// v8.setFlagsFromString at run time comes too late.
// dist/olm.mjs is dist/cli/main.js bundled into one file (scripts/bundle.mjs): start-up time.
import { main } from '../dist/olm.mjs'

process.exitCode = await main(process.argv.slice(2))
