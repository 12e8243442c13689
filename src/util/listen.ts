import type { EventEmitter } from 'node:events';

/** Attach several listeners at once; the returned function detaches them all. */
export function listen(emitter: EventEmitter, handlers: Record<string, (...args: never[]) => void>): () => void {
  for (const [event, fn] of Object.entries(handlers)) emitter.on(event, fn as (...args: unknown[]) => void);
  return () => {
    for (const [event, fn] of Object.entries(handlers)) emitter.off(event, fn as (...args: unknown[]) => void);
  };
}
