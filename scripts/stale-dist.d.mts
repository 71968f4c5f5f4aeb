/** Paths (relative to `root`) of the lib/ sources dist/ is older than. */
export function staleLibSources(root: string): string[];
