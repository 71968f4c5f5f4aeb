#!/usr/bin/env node
// Run one command inside a throwaway QEMU VM booted on the iommufd test kernel.
//
//   node scripts/vm.mjs [--kernel PATH | --kernel-version 6.12|7.3 | --source DIR]
//                       [--timeout SECONDS] [--memory MB]
//                       [--cwd DIR] [--env NAME=VALUE]... [--profile default|vtd|noiommu] [--icount]
//                       -- COMMAND [ARGS...]
//
// --icount runs the guest under TCG with `-icount shift=0,sleep=off`: guest time
// counts guest instructions (1 ns each) instead of following the host clock, so
// timings taken inside are deterministic instruction counts (bench:kernel --icount).
//
// Profiles: `default` is a plain PC; `vtd` is a q35 with QEMU's emulated Intel
// VT-d (intel-iommu, interrupt remapping, caching mode) and the `edu` PCI device
// (vendor 0x1234, device 0x11e8, does DMA on command), booted with intel_iommu=on:
// the rig for the VFIO / hardware-validation tests (test/vfio). `noiommu` is a
// q35 with edu and no IOMMU, booted with vfio.enable_unsafe_noiommu_mode=1
// (test/noiommu: IOMMU_IOAS_NOIOMMU_GET_PA on a no-IOMMU VFIO device).
//
// The guest sees the host's / read-only (over virtio-9p) with tmpfs on /tmp, /run,
// /var/tmp and /dev/shm, so it runs the host's node and the repo as checked out.
// The command's stdout+stderr stream to our stdout; our exit status is the
// command's. VM failures exit 124 (timeout) or 125 (anything else) after printing
// the tail of the console log. Environment: IOMMUFD_VM_ACCEL=kvm|tcg forces the
// accelerator, IOMMUFD_VM_LOG=PATH keeps the full console log at PATH.
//
// Also usable as a module: `import { runInVm } from './vm.mjs'`.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { KERNELS, buildKernel } from './kernels.mjs';

const SCRIPTS_DIR = path.dirname(fileURLToPath(import.meta.url));
const INIT_SCRIPT = path.join(SCRIPTS_DIR, 'vm-init.sh');

// Printed by vm-init.sh around the command; keep in sync.
const START_MARKER = '@@IOMMUFD-VM-START@@\n';
const END_MARKER = '\n@@IOMMUFD-VM-END@@';

const DEFAULTS = { timeout: 1800, memory: 4096 };

// Extra QEMU arguments and kernel parameters per profile. The vIOMMU comes
// before every other PCI device so that all of them sit behind it.
const PROFILES = {
  default: { machine: [], devices: [], cmdline: [] },
  vtd: {
    machine: ['-machine', 'q35,kernel-irqchip=split'],
    devices: ['-device', 'intel-iommu,intremap=on,caching-mode=on', '-device', 'edu'],
    cmdline: ['intel_iommu=on'],
  },
  // The edu device with no IOMMU in front of it, and VFIO's unsafe no-IOMMU mode:
  // on 7.3 (CONFIG_IOMMUFD_NOIOMMU) vfio-pci gives it a noiommu-vfioN cdev whose
  // IOAS translations IOMMU_IOAS_NOIOMMU_GET_PA reads (test/noiommu).
  noiommu: {
    machine: ['-machine', 'q35'],
    devices: ['-device', 'edu'],
    cmdline: ['vfio.enable_unsafe_noiommu_mode=1'],
  },
};
const KVM_WATCHDOG_MS = 20_000; // a working KVM guest reaches the start marker in ~2 s
const LOG_TAIL_LINES = 60;
const MSIZE = 512000; // 9p message size; larger than the default 8 KiB for faster reads

export const EXIT_TIMEOUT = 124;
export const EXIT_VM_FAILURE = 125;

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

const progress = (msg) => process.stderr.write(`[vm] ${msg}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * Run `command` (argv array) in a fresh VM and resolve to its exit code.
 * VM failures resolve to EXIT_TIMEOUT / EXIT_VM_FAILURE (or 128+n when the runner
 * is interrupted by a signal) after printing a one-line reason and the console log
 * tail on stderr. Only invalid arguments throw.
 *
 * @param {string[]} command
 * @param {object} [options]
 * @param {string} [options.kernel]   bzImage; default: built/cached by scripts/build-kernel.sh
 * @param {string} [options.kernelVersion]  which Debian source to build (scripts/kernels.mjs), default 6.12
 * @param {string} [options.source]   a developer's kernel tree to build with our config fragment
 * @param {number} [options.timeout]  seconds for the whole VM run (boot included), default 1800
 * @param {number} [options.memory]   guest RAM in MB, default 4096
 * @param {string} [options.cwd]      guest working directory, default process.cwd()
 * @param {Record<string,string>} [options.env]  extra environment for the command
 * @param {'default'|'vtd'|'noiommu'} [options.profile]  machine profile (see PROFILES), default 'default'
 * @param {'kvm'|'tcg'} [options.accel]  default: $IOMMUFD_VM_ACCEL, else KVM if usable with TCG fallback
 * @param {boolean} [options.icount]  guest time counts guest instructions (TCG only, never KVM)
 * @param {string} [options.logFile]  console log path, default: $IOMMUFD_VM_LOG or $TMPDIR/iommufd-vm-<pid>.log
 * @param {NodeJS.WritableStream} [options.stdout]  where the command's output goes, default process.stdout
 * @returns {Promise<number>}
 */
export async function runInVm(command, options = {}) {
  const opts = normalizeOptions(command, options);
  const run = new Run(opts);
  try {
    return await run.execute();
  } finally {
    run.dispose();
  }
}

function normalizeOptions(command, options) {
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    throw new TypeError('runInVm: command must be a non-empty array of strings');
  }
  const timeout = options.timeout ?? DEFAULTS.timeout;
  const memory = options.memory ?? DEFAULTS.memory;
  if (!(timeout > 0)) throw new TypeError(`runInVm: invalid timeout ${timeout}`);
  if (!Number.isInteger(memory) || memory < 256) throw new TypeError(`runInVm: invalid memory ${memory} (MB, >= 256)`);
  const env = options.env ?? {};
  for (const name of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`runInVm: invalid environment variable name '${name}'`);
  }
  const icount = options.icount ?? false;
  if (typeof icount !== 'boolean') throw new TypeError(`runInVm: icount must be a boolean`);
  // icount is a TCG feature: that mode never tries KVM.
  const accel = icount ? 'tcg' : (options.accel ?? (process.env.IOMMUFD_VM_ACCEL || undefined));
  if (icount && options.accel === 'kvm') throw new TypeError(`runInVm: icount needs TCG, not accel 'kvm'`);
  if (accel !== undefined && accel !== 'kvm' && accel !== 'tcg') {
    throw new TypeError(`runInVm: accel must be 'kvm' or 'tcg', got '${accel}'`);
  }
  const explicitLog = options.logFile ?? (process.env.IOMMUFD_VM_LOG || undefined);
  const profile = options.profile ?? 'default';
  if (!Object.hasOwn(PROFILES, profile)) {
    throw new TypeError(`runInVm: unknown profile '${profile}' (${Object.keys(PROFILES).join(', ')})`);
  }
  const chosen = ['kernel', 'kernelVersion', 'source'].filter((k) => options[k] !== undefined);
  if (chosen.length > 1) throw new TypeError(`runInVm: ${chosen.join(' and ')} exclude each other`);
  if (options.kernelVersion !== undefined && !Object.hasOwn(KERNELS, options.kernelVersion))
    throw new TypeError(`runInVm: unknown kernel version '${options.kernelVersion}' (${Object.keys(KERNELS).join(', ')})`);
  return {
    profile,
    command,
    kernel: options.kernel,
    kernelVersion: options.kernelVersion,
    source: options.source,
    timeoutMs: timeout * 1000,
    memory,
    cwd: path.resolve(options.cwd ?? process.cwd()),
    env,
    accel,
    icount,
    logFile: path.resolve(explicitLog ?? path.join(os.tmpdir(), `iommufd-vm-${process.pid}.log`)),
    keepLog: explicitLog !== undefined,
    stdout: options.stdout ?? process.stdout,
  };
}

/** One invocation: owns the temp dir, the log file, signal handlers and child processes. */
class Run {
  constructor(opts) {
    this.opts = opts;
    this.child = null; // qemu while it runs (kernels.mjs stops a build on a signal itself)
    this.interrupted = null; // signal name once we got one
    this.outDir = null;
    this.logFd = null;
    this.succeeded = false;
    this.onSignal = (sig) => {
      this.interrupted ??= sig;
      this.killChild();
    };
    this.onExit = () => this.killChild();
    for (const sig of Object.keys(SIGNAL_EXIT)) process.on(sig, this.onSignal);
    process.on('exit', this.onExit);
  }

  async execute() {
    const kernel = await this.resolveKernel();
    if (typeof kernel === 'number') return kernel;

    this.outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommufd-vm-'));
    fs.writeFileSync(path.join(this.outDir, 'command.sh'), commandScript(this.opts));
    this.logFd = fs.openSync(this.opts.logFile, 'w');

    const deadline = Date.now() + this.opts.timeoutMs;
    const accels = chooseAccels(this.opts.accel);
    let boot;
    for (const [i, accel] of accels.entries()) {
      if (this.interrupted) break; // finish() reports it
      const fallback = i < accels.length - 1;
      boot = await this.boot(kernel, accel, deadline, fallback);
      if (!boot.retry) break;
      progress(`${accel} did not work (${boot.retry}), retrying with ${accels[i + 1]}`);
      if (accel === 'kvm') kvmFailed = true;
    }
    return this.finish(boot);
  }

  /** The bzImage path, or an exit code if building it failed. */
  async resolveKernel() {
    const { kernel } = this.opts;
    if (kernel !== undefined) {
      if (fs.existsSync(kernel)) return path.resolve(kernel);
      return this.fail(EXIT_VM_FAILURE, `kernel ${kernel} not found`, false);
    }
    try {
      return await buildKernel({ version: this.opts.kernelVersion, source: this.opts.source });
    } catch (err) {
      if (this.interrupted) return this.fail(SIGNAL_EXIT[this.interrupted], `interrupted by ${this.interrupted}`, false);
      return this.fail(EXIT_VM_FAILURE, err.message, false);
    }
  }

  /**
   * Boot once. Resolves to { retry: reason } when KVM should be abandoned for TCG,
   * otherwise to what finish() needs to judge the run.
   */
  boot(kernel, accel, deadline, fallback) {
    progress(`booting (${accel}${this.opts.icount ? ', icount' : ''})…`);
    const started = Date.now();
    const args = qemuArgs({ kernel, accel, icount: this.opts.icount, memory: this.opts.memory, outDir: this.outDir, profile: this.opts.profile });
    const state = { accel, started, guestUp: false, killedFor: null, qemuStderr: '', spawnError: null };

    // Separates attempts in the log and records exactly what was run.
    fs.writeSync(this.logFd, `\n[vm.mjs] qemu-system-x86_64 ${args.join(' ')}\n`);

    return new Promise((resolve) => {
      const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      const kill = (why) => {
        state.killedFor ??= why;
        child.kill('SIGKILL');
      };
      const timers = [setTimeout(() => kill('timeout'), Math.max(0, deadline - Date.now()))];
      if (fallback) timers.push(setTimeout(() => kill('watchdog'), KVM_WATCHDOG_MS));

      const consoleFilter = new ConsoleFilter(this.opts.stdout, () => {
        state.guestUp = true;
        if (fallback) clearTimeout(timers[1]);
        progress(`guest up in ${seconds(Date.now() - started)} (${accel})`);
      });
      child.stdout.on('data', (chunk) => {
        fs.writeSync(this.logFd, chunk);
        consoleFilter.push(chunk);
      });
      child.stderr.on('data', (chunk) => {
        fs.writeSync(this.logFd, chunk);
        state.qemuStderr += chunk;
      });
      child.on('error', (err) => (state.spawnError = err));
      child.on('close', (code, signal) => {
        timers.forEach(clearTimeout);
        consoleFilter.end();
        this.child = null;
        state.code = code;
        state.signal = signal;
        state.elapsed = Date.now() - started;
        resolve(fallback && !this.interrupted ? withRetryReason(state, this.opts.logFile) : state);
      });
    });
  }

  /** Turn the outcome of the last boot into an exit code (printing why on failure). */
  finish(boot) {
    if (this.interrupted) {
      return this.fail(SIGNAL_EXIT[this.interrupted], `interrupted by ${this.interrupted} (console log: ${this.opts.logFile})`, false);
    }
    if (boot.spawnError) return this.fail(EXIT_VM_FAILURE, `cannot start qemu-system-x86_64: ${boot.spawnError.message}`);
    if (boot.killedFor === 'timeout') {
      return this.fail(EXIT_TIMEOUT, `timed out after ${this.opts.timeoutMs / 1000} s (${boot.guestUp ? 'command still running' : 'guest never started'})`);
    }
    const code = readExitCode(this.outDir);
    if (code !== null) {
      this.succeeded = true;
      progress(`command exited with ${code} after ${seconds(boot.elapsed)}`);
      return code;
    }
    return this.fail(EXIT_VM_FAILURE, failureReason(boot, this.opts.logFile));
  }

  /** Print the console log tail (if there is a log yet) and the reason; return `code`. */
  fail(code, reason, showLog = true) {
    if (showLog && this.logFd !== null) {
      process.stderr.write(`[vm] last ${LOG_TAIL_LINES} lines of the console log (full log: ${this.opts.logFile}):\n`);
      process.stderr.write(logTail(this.opts.logFile, LOG_TAIL_LINES).replace(/^/gm, '  | ') + '\n');
    }
    progress(`error: ${reason}`);
    return code;
  }

  killChild() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  dispose() {
    for (const sig of Object.keys(SIGNAL_EXIT)) process.off(sig, this.onSignal);
    process.off('exit', this.onExit);
    if (this.outDir) fs.rmSync(this.outDir, { recursive: true, force: true });
    if (this.logFd !== null) {
      fs.closeSync(this.logFd);
      // The log is only interesting when something went wrong.
      if (this.succeeded && !this.opts.keepLog) fs.rmSync(this.opts.logFile, { force: true });
    }
  }
}

/**
 * Passes console output through to `out` between the start and end markers,
 * turning the serial line's CRLF into LF. Boot noise before the start marker
 * only goes to the log file.
 */
class ConsoleFilter {
  constructor(out, onStart) {
    this.out = out;
    this.onStart = onStart;
    this.decoder = new StringDecoder('utf8');
    this.phase = 'boot'; // boot -> run -> done
    this.pending = '';
  }

  push(chunk) {
    this.pending += this.decoder.write(chunk);
    this.pending = this.pending.replace(/\r\n/g, '\n');
    if (this.phase === 'boot') this.scanBoot();
    if (this.phase === 'run') this.scanRun();
  }

  end() {
    // Guest died mid-command (panic, timeout): show whatever it printed last.
    if (this.phase === 'run') this.out.write(this.pending.replace(/\r$/, ''));
    this.phase = 'done';
    this.pending = '';
  }

  scanBoot() {
    const i = this.pending.indexOf(START_MARKER);
    if (i < 0) {
      this.pending = this.pending.slice(-START_MARKER.length); // enough to find a split marker
      return;
    }
    this.pending = this.pending.slice(i + START_MARKER.length);
    this.phase = 'run';
    this.onStart();
  }

  scanRun() {
    const i = this.pending.indexOf(END_MARKER);
    if (i >= 0) {
      this.out.write(this.pending.slice(0, i));
      this.phase = 'done';
      this.pending = '';
      return;
    }
    // Hold back a trailing '\r' (maybe half of CRLF) or a possible start of the end marker.
    const keep = Math.max(heldBack(this.pending, END_MARKER), this.pending.endsWith('\r') ? 1 : 0);
    this.out.write(this.pending.slice(0, this.pending.length - keep));
    this.pending = this.pending.slice(this.pending.length - keep);
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `marker`. */
function heldBack(text, marker) {
  for (let n = Math.min(text.length, marker.length - 1); n > 0; n--) {
    if (text.endsWith(marker.slice(0, n))) return n;
  }
  return 0;
}

/** Accelerators to try in order. */
// A /dev/kvm that once failed to boot our guest (e.g. a paravirtual kvm_pvm) is not tried
// again by this process: npm test boots several VMs, each would lose the watchdog's 20 s.
let kvmFailed = false;

function chooseAccels(forced) {
  if (forced) return [forced];
  return kvmUsable() && !kvmFailed ? ['kvm', 'tcg'] : ['tcg'];
}

function kvmUsable() {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

function qemuArgs({ kernel, accel, icount = false, memory, outDir, profile = 'default' }) {
  const extra = PROFILES[profile];
  const cmdline = [
    'console=ttyS0',
    '8250.nr_uarts=1',
    // Full boot log goes to the console log file; vm-init.sh lowers the level to
    // warnings before the command starts, so only those interleave with its output.
    'loglevel=7',
    'root=/dev/root',
    'rootfstype=9p',
    `rootflags=trans=virtio,version=9p2000.L,msize=${MSIZE},cache=loose`,
    'ro',
    'panic=-1', // reboot on panic, i.e. qemu exits (-no-reboot)
    'oops=panic', // an oops would otherwise leave a half-dead guest until the timeout
    // vCPU threads of a busy host (TCG) stall long enough to trip the clocksource
    // watchdog, whose warnings would land in the command's output.
    'tsc=reliable',
    // Under TCG on a busy host the boot-time IO-APIC timer test can miss its
    // ticks, which is a panic ("IO-APIC + timer doesn't work", or with interrupt
    // remapping "timer doesn't work through Interrupt-remapped IO-APIC").
    'no_timer_check',
    ...extra.cmdline,
    ...initArgs(),
  ].join(' ');
  return [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    ...extra.machine,
    ...(accel === 'kvm' ? ['-enable-kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
    // One guest instruction = 1 ns of guest time; sleep=off: an idle guest jumps
    // to its next timer instead of waiting for the host clock.
    ...(icount ? ['-icount', 'shift=0,sleep=off'] : []),
    '-smp', '2',
    '-m', String(memory),
    '-kernel', kernel,
    '-append', cmdline,
    // Serial console on our stdout pipe; signal=off so qemu leaves Ctrl-C to us.
    '-chardev', 'stdio,id=console,signal=off',
    '-serial', 'chardev:console',
    ...extra.devices,
    // Host root, read-only. multidevs=remap: / spans several host filesystems.
    '-fsdev', 'local,id=root,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=root,mount_tag=/dev/root',
    // Writable share: command.sh in, exit-code out.
    '-fsdev', `local,id=vmout,path=${outDir},security_model=none`,
    '-device', 'virtio-9p-pci,fsdev=vmout,mount_tag=vmout',
    '-device', 'virtio-rng-pci',
  ];
}

/** The kernel command line is space-separated, so the init path must not contain spaces. */
function initArgs() {
  if (/\s/.test(INIT_SCRIPT)) throw new Error(`vm.mjs: the repo path must not contain whitespace (${INIT_SCRIPT})`);
  try {
    fs.accessSync(INIT_SCRIPT, fs.constants.X_OK);
    return [`init=${INIT_SCRIPT}`];
  } catch {
    // Lost its executable bit (e.g. an archive without modes): let bash run it.
    return ['init=/bin/bash', '--', INIT_SCRIPT];
  }
}

/** bash source read by vm-init.sh; everything single-quoted so any value is safe. */
function commandScript({ command, cwd, env }) {
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    `VM_CWD=${q(cwd)}`,
    `VM_ARGV=(${command.map(q).join(' ')})`,
    `VM_ENV=(${Object.entries(env).map(([name, value]) => q(`${name}=${value}`)).join(' ')})`,
    '',
  ].join('\n');
}

function readExitCode(outDir) {
  try {
    const text = fs.readFileSync(path.join(outDir, 'exit-code'), 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/** For a KVM attempt that should be redone under TCG, add `retry: reason`. */
function withRetryReason(state, logFile) {
  if (state.guestUp || state.killedFor === 'timeout') return state;
  if (state.killedFor === 'watchdog') return { ...state, retry: `no start marker after ${KVM_WATCHDOG_MS / 1000} s` };
  // A kernel panic during boot would happen under TCG too: don't retry those.
  if (/Kernel panic/.test(logTail(logFile, 200))) return state;
  if (state.spawnError) return state;
  return { ...state, retry: firstLine(state.qemuStderr) || `qemu exited with ${state.code ?? state.signal}` };
}

function failureReason(boot, logFile) {
  const panic = logTail(logFile, 400).match(/Kernel panic - not syncing:.*/);
  if (panic) return panic[0].replace(/\r/g, '').trim();
  if (!boot.guestUp) {
    const why = firstLine(boot.qemuStderr) || `qemu exited with ${boot.code ?? boot.signal}`;
    return `guest did not start: ${why}`;
  }
  return `guest stopped without reporting an exit code (qemu exited with ${boot.code ?? boot.signal})`;
}

const firstLine = (text) => text.split('\n').find((l) => l.trim())?.trim() ?? '';

/** Last `lines` lines of a (possibly large) log file. */
function logTail(file, lines) {
  let text;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 256 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
  return text.replace(/\r/g, '').replace(/\n+$/, '').split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------
// CLI

const USAGE = `usage: node scripts/vm.mjs [--kernel PATH | --kernel-version 6.12|7.3 | --source DIR]
                          [--timeout SECONDS] [--memory MB]
                          [--cwd DIR] [--env NAME=VALUE]... [--profile default|vtd|noiommu] [--icount]
                          -- COMMAND [ARGS...]`;

function parseCli(argv) {
  const options = { env: {} };
  let i = 0;
  const value = (flag, inline) => {
    if (inline !== undefined) return inline;
    if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-')) break; // first word of the command
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg];
    switch (flag) {
      case '-h':
      case '--help':
        return { help: true };
      case '--kernel':
        options.kernel = value(flag, inline);
        break;
      case '--kernel-version':
        options.kernelVersion = value(flag, inline);
        break;
      case '--source':
        options.source = value(flag, inline);
        break;
      case '--cwd':
        options.cwd = value(flag, inline);
        break;
      case '--timeout':
        options.timeout = positiveNumber(flag, value(flag, inline));
        break;
      case '--memory':
        options.memory = positiveNumber(flag, value(flag, inline));
        break;
      case '--profile':
        options.profile = value(flag, inline);
        break;
      case '--icount':
        if (inline !== undefined) throw new Error('--icount takes no value');
        options.icount = true;
        break;
      case '--env': {
        const pair = value(flag, inline);
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new Error(`--env expects NAME=VALUE, got '${pair}'`);
        options.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        break;
      }
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  const command = argv.slice(i);
  if (command.length === 0) throw new Error('no command given');
  return { command, options };
}

function positiveNumber(flag, text) {
  const n = Number(text);
  if (!(n > 0)) throw new Error(`${flag} expects a positive number, got '${text}'`);
  return n;
}

async function main() {
  let parsed;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`vm.mjs: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    return await runInVm(parsed.command, parsed.options);
  } catch (err) {
    process.stderr.write(`vm.mjs: ${err.message}\n`);
    return 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
