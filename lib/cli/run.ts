// `iommufd run FILE`: import a user scenario and call it with an open Iommufd.
// Failures are one line: the ioctl, the errno name and the arguments that
// caused it (recorded by a thin wrapper around the backend), and where in the
// script it happened.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { Backend, Capabilities } from '../backend/contract.js';
import { uncheckedMethod } from '../backend/args.js';
import { missingFeatures } from '../backend/capabilities.js';
import { Iommufd } from '../api/iommufd.js';
import { CliError, firstLine } from './common.js';
import type { RunContext, Scenario } from './context.js';

export interface RunOptions {
  backend: 'native' | 'sim';
  /** Arguments after `--`, handed to the script as ctx.args. */
  args: string[];
  verbose: boolean;
}

/** Thrown by ctx.skip() / ctx.requires(): the script cannot run on this backend. */
class ScriptSkipped extends Error {}

interface BackendCall {
  method: string;
  params: string[];
  args: unknown[];
}

/** The backend call each IommufdError came from. */
const failedCalls = new WeakMap<object, BackendCall>();

/**
 * The same backend, recording which method and arguments threw. Members are
 * read with the real backend as `this`, so private fields keep working.
 */
export function traceBackend(backend: Backend): Backend {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(backend, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      if (!wrapped.has(prop)) {
        const fn = value as (...args: unknown[]) => unknown;
        wrapped.set(prop, (...args: unknown[]) => {
          try {
            return fn.apply(target, args);
          } catch (e) {
            if (e !== null && typeof e === 'object' && !failedCalls.has(e))
              failedCalls.set(e, { method: String(prop), params: parameterNames(uncheckedMethod(fn)), args });
            throw e;
          }
        });
      }
      return wrapped.get(prop);
    },
  });
}

/** `ioasMap(ioasId, flags, memory, iova) {...}` -> ['ioasId', 'flags', 'memory', 'iova']. */
function parameterNames(fn: (...args: unknown[]) => unknown): string[] {
  const m = /^[^(]*\(([^)]*)\)/.exec(Function.prototype.toString.call(fn));
  if (!m) return [];
  return m[1]!
    .split(',')
    .map((p) => p.trim().replace(/\s*=.*$/, ''))
    .filter((p) => /^[A-Za-z_$][\w$]*$/.test(p));
}

function formatArg(name: string | undefined, value: unknown): string {
  const hex = (v: bigint | number) => `0x${v.toString(16)}`;
  let text: string;
  if (typeof value === 'bigint') text = hex(value);
  else if (typeof value === 'number' && name && /flags|iova|addr/i.test(name)) text = hex(value);
  else if (ArrayBuffer.isView(value)) text = `<${value.constructor.name} ${value.byteLength} bytes>`;
  else if (value && typeof value === 'object' && 'bytes' in value && 'offset' in value && 'length' in value) {
    const r = value as { bytes: Uint8Array; offset: number; length: number };
    text = `<${r.length} bytes at offset ${r.offset} of ${r.bytes.byteLength}>`;
  } else text = inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 8, maxStringLength: 80 });
  return name ? `${name}=${text}` : text;
}

/** `ioasMap(ioasId=1, flags=0x7, memory=<...>, iova=0x80000000)` */
export function describeCall(error: unknown): string | undefined {
  const call = error !== null && typeof error === 'object' ? failedCalls.get(error) : undefined;
  if (!call) return undefined;
  return `${call.method}(${call.args.map((a, i) => formatArg(call.params[i], a)).join(', ')})`;
}

/** `file:line:col` of the innermost stack frame inside `file`. */
function locationIn(error: unknown, file: string): string | undefined {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const url = pathToFileURL(file).href;
  for (const line of stack.split('\n')) {
    const m = /\((?:file:\/\/)?([^()]+):(\d+):(\d+)\)$|at (?:file:\/\/)?([^ ()]+):(\d+):(\d+)$/.exec(line.trim());
    if (!m) continue;
    const path = decodeURIComponent(m[1] ?? m[4]!);
    if (path === file || `file://${path}` === url) return `${relative(process.cwd(), file)}:${m[2] ?? m[5]}:${m[3] ?? m[6]}`;
  }
  return undefined;
}

/** One line for a failure inside the script: where, what failed, the call, the hint. */
export function describeFailure(error: unknown, file: string): string {
  const where = locationIn(error, file) ?? relative(process.cwd(), file);
  const call = describeCall(error);
  const e = error as { name?: string; message?: string } | null;
  let text: string;
  let hint = '';
  if (e && e.name === 'IommufdError') {
    // "<op> failed: <CODE> (<description>)[ detail][ — hint]"
    const message = firstLine(e.message ?? '');
    const dash = message.lastIndexOf(' — ');
    text = dash < 0 ? message : message.slice(0, dash);
    hint = dash < 0 ? '' : message.slice(dash);
  } else if (error instanceof Error) text = `${error.name}: ${error.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}`;
  else text = `threw ${inspect(error)}`;
  return `${where}: ${text}${call ? ` in ${call}` : ''}${hint}`;
}

function requiresFn(caps: Capabilities) {
  return (...features: string[]): void => {
    const missing = missingFeatures(caps, features); // a TypeError for an unknown name
    if (missing.length > 0) throw new ScriptSkipped(`backend lacks ${missing.join(', ')} (${caps.backend}, ${caps.kernel})`);
  };
}

/**
 * Module hooks for the script: `import ... from 'iommufd'` resolves to this
 * very package (the instance the CLI uses), wherever the script lives; and a
 * .ts script is an ES module even outside a "type": "module" package (else
 * Node would take it for CommonJS and refuse its imports).
 */
function registerHooks(entry: string, tsFormat: 'module' | 'module-typescript'): void {
  const index = new URL('../index.js', import.meta.url).href;
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === 'iommufd') return { url: ${JSON.stringify(index)}, shortCircuit: true };
    const resolved = await next(specifier, context);
    return resolved.url === ${JSON.stringify(entry)} && /\\.tsx?$/.test(resolved.url) ? { ...resolved, format: '${tsFormat}' } : resolved;
  }`;
  // module.register exists from Node 20.6; before that, normal resolution only.
  if (typeof register === 'function') register(`data:text/javascript,${encodeURIComponent(hooks)}`);
}

async function load(file: string): Promise<Scenario> {
  const url = pathToFileURL(file).href;
  // Node >= 22.18 strips types itself; older Node needs tsx, an optional peer dependency.
  const nodeStripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
  if (/\.[mc]?tsx?$/.test(file) && !nodeStripsTypes) {
    let tsx: typeof import('tsx/esm/api');
    try {
      tsx = await import('tsx/esm/api');
    } catch {
      throw new CliError(
        `${relative(process.cwd(), file)} is TypeScript, which Node ${process.version} cannot run by itself`,
        'npm install tsx (an optional peer dependency of iommufd), use Node >= 22.18, or compile the script to .js',
      );
    }
    tsx.register();
  }
  registerHooks(url, nodeStripsTypes ? 'module-typescript' : 'module'); // after tsx's, so these run first
  const mod = (await import(url)) as { default?: unknown; run?: unknown };
  const fn = typeof mod.default === 'function' ? mod.default : mod.run;
  if (typeof fn !== 'function')
    throw new CliError(
      `${relative(process.cwd(), file)} exports no function to run`,
      'export default async function (fd, ctx) { ... } (or export a function named run)',
    );
  return fn as Scenario;
}

/** Run the script; resolves to the exit code (0 done, 1 failed, 4 skipped). */
export async function runScript(fileArg: string, options: RunOptions): Promise<number> {
  const file = resolve(fileArg);
  const shown = relative(process.cwd(), file) || file;
  if (!existsSync(file)) throw new CliError(`cannot run ${fileArg}: no such file`, 'check the path');
  const scenario = await load(file);
  const opened = Iommufd.open({ backend: options.backend });
  const fd = new Iommufd(traceBackend(opened.backend));
  const caps = fd.capabilities();
  const ctx: RunContext = {
    backend: caps.backend,
    capabilities: caps,
    args: options.args,
    requires: requiresFn(caps),
    skip: (reason: string) => {
      throw new ScriptSkipped(reason);
    },
    log: (...args: unknown[]) => console.log(...args),
  };
  const started = performance.now();
  try {
    await scenario(fd, ctx);
  } catch (error) {
    if (error instanceof ScriptSkipped) {
      process.stderr.write(`iommufd run: ${shown} skipped: ${error.message}\n`);
      return 4;
    }
    process.stderr.write(`iommufd run: ${describeFailure(error, file)}\n`);
    if (options.verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  } finally {
    if (!fd.closed) fd.close();
  }
  const ms = (performance.now() - started).toFixed(0);
  process.stderr.write(`iommufd run: ${shown} passed on the ${caps.backend} backend (${caps.kernel}) in ${ms} ms\n`);
  return 0;
}
