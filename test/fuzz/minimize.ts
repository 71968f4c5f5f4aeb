// Delta debugging (ddmin) of a diverging sequence: drop chunks of steps, then
// single steps, for as long as the kernel and the simulator still disagree on
// a step of the same kind.
import { type Divergence, type PairMemory, type PairResult, runPair } from './run.js';
import type { Step } from './steps.js';

export interface Minimized {
  steps: Step[];
  result: PairResult;
  /** Pair runs spent. */
  tries: number;
}

const opOf = (d: Divergence): string => d.step.op;

export function minimize(steps: Step[], first: Divergence, memory: PairMemory, maxTries = 600): Minimized {
  const want = opOf(first);
  let tries = 0;
  let best: PairResult | null = null;
  const fails = (candidate: Step[]): boolean => {
    tries++;
    const result = runPair(candidate, memory);
    if (result.divergence && opOf(result.divergence) === want) {
      best = result;
      return true;
    }
    return false;
  };

  // Only the steps up to the divergence matter.
  let current = first.index < steps.length ? steps.slice(0, first.index + 1) : steps.slice();
  let n = 2;
  while (current.length >= 2 && tries < maxTries) {
    const chunk = Math.ceil(current.length / n);
    let reduced = false;
    for (let start = 0; start < current.length && tries < maxTries; start += chunk) {
      const complement = [...current.slice(0, start), ...current.slice(start + chunk)];
      if (complement.length && fails(complement)) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  // One at a time, from the end, until nothing more can go.
  for (let changed = true; changed && tries < maxTries; ) {
    changed = false;
    for (let i = current.length - 1; i >= 0 && tries < maxTries; i--) {
      const candidate = [...current.slice(0, i), ...current.slice(i + 1)];
      if (candidate.length && fails(candidate)) {
        current = candidate;
        changed = true;
      }
    }
  }
  // The final run of what is left, for the report.
  tries++;
  const result = runPair(current, memory);
  return { steps: current, result: result.divergence ? result : (best ?? result), tries };
}

/** A minimized divergence as TypeScript a regression test can paste (replay() in test/fuzz/run.ts). */
export function formatRepro(label: string, min: Minimized): string {
  const d = min.result.divergence;
  const lines = [
    `// ${label}: ${min.steps.length} step(s) after minimizing (${min.tries} pair runs)`,
    `// diverges at step ${d?.index} (${d?.step.op}): kernel ${JSON.stringify(d?.native)}, simulator ${JSON.stringify(d?.sim)}`,
    `const steps: Step[] = [`,
    ...min.steps.map((s) => `  ${JSON.stringify(s)},`),
    `];`,
    `// simulator outcomes: ${JSON.stringify(min.result.outcomes.sim)}`,
    `// As a test (imports: replay from test/fuzz/run.js, openIommufd from test/backend.js), the kernel's outcomes expected:`,
    `test(${JSON.stringify(label)}, () => {`,
    `  expect(replay(openIommufd(), steps).slice(0, steps.length)).toEqual(${JSON.stringify(min.result.outcomes.native)});`,
    `});`,
  ];
  return lines.join('\n');
}
