// npm install hook: build the native addon where it can be built, and never
// fail the install when it cannot — the pure-TypeScript parts keep working and
// the reason is printed once, here, and again when the native backend is asked for.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function say(message) {
  console.warn(`iommufd: ${message}`);
}

function nodeGypCommand() {
  // npm points install scripts at its bundled node-gyp; prefer our own pinned one.
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
    return ['node-gyp'];
  }
}

if (process.env.IOMMUFD_SKIP_NATIVE === '1') {
  say('IOMMUFD_SKIP_NATIVE=1: not building the native addon; the simulator backend and the rest of the package still work.');
} else if (process.platform !== 'linux') {
  say(`the native addon needs Linux (this is ${process.platform}); installed without it; the simulator backend works.`);
} else {
  const [cmd, ...args] = nodeGypCommand();
  args.push('rebuild');
  // Build against the local Node headers when they are installed: no download needed.
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) {
    args.push('--nodedir=/usr');
  }
  const result = spawnSync(cmd, args, { stdio: 'inherit' });
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
    say(`could not build the native addon (${why}).`);
    say('Install a C++ toolchain (apt-get install g++ make python3) and run `npm rebuild iommufd`.');
    say('Until then the native backend is unavailable; the simulator backend (backend: "sim") and the rest work.');
  }
}
