// Colours for human output only (never in KTAP or JSON).
import picocolors from 'picocolors';

export type Colors = ReturnType<typeof picocolors.createColors>;

/** Colours when `enabled` (a terminal) and NO_COLOR is unset. */
export function colors(enabled: boolean): Colors {
  return picocolors.createColors(enabled && !process.env.NO_COLOR);
}
