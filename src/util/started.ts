/**
 * When ferry's own code began, in ms since the process started (Node's
 * start-up before it). Imported first by the CLI, so the setup timeline can
 * tell Node's start from ferry's.
 */
export const startedAt = performance.now();
