// One worker process of the hostile-input fuzzer: runs the sequences it is
// given and reports each to its parent (test/hostile/main.ts) over IPC, so a
// crash (a signal, an ASan abort) loses only the sequence it happened in.
import { readFileSync } from 'node:fs';
import { DmaBuffer } from '../../lib/index.js';
import { Engine } from './engine.js';

// Asked for the sanitizer build: prove it is the one loaded, or nothing counts.
if (process.env.IOMMUFD_ADDON && process.env.LD_PRELOAD) {
  DmaBuffer.alloc(4096).free(); // loads the addon
  const maps = readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes('libasan') || !maps.includes(process.env.IOMMUFD_ADDON)) {
    process.stderr.write(`hostile worker: the ASan runtime or ${process.env.IOMMUFD_ADDON} is not loaded\n`);
    process.exit(3);
  }
  // Preloading libasan checks only malloc and friends: the addon's own accesses need its instrumentation.
  if (!readFileSync(process.env.IOMMUFD_ADDON).includes('__asan_init')) {
    process.stderr.write(`hostile worker: ${process.env.IOMMUFD_ADDON} was not compiled with -fsanitize=address\n`);
    process.exit(3);
  }
}

const [from, to, seed, length] = process.argv.slice(2).map(Number) as [number, number, number, number];
const engine = new Engine({ length });
for (let i = from; i < to; i++) {
  process.send!({ type: 'start', sequence: i });
  const before = { ...engine.counts };
  const found = engine.findings.length;
  engine.run(i, seed + i * 7919);
  const delta = Object.fromEntries(Object.entries(engine.counts).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
  process.send!({ type: 'done', sequence: i, counts: delta, findings: engine.findings.slice(found) });
  if (i % 16 === 15) globalThis.gc?.(); // let FinalizationRegistry close what a sequence dropped
}
engine.finish();
process.send!({ type: 'end' }, () => process.exit(0));
