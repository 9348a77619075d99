/**
 * What a stop signal (SIGINT, SIGTERM) means to a long-running keyrotor command. The first one starts the orderly
 * shutdown; a second one, sent by an operator who will not wait, exits at once. But one signal can arrive twice:
 * `npm start` runs keyrotor as npm's child in one process group, so `kill -TERM -<pgid>` (or Ctrl-C in a terminal,
 * which signals the foreground group) reaches keyrotor from the kernel and again from npm, which forwards SIGINT and
 * SIGTERM to its child. Taking that copy for a second request skipped the orderly shutdown, so the same signal within
 * the repeat window is the same request.
 */
export const SAME_REQUEST_WINDOW_MS = 1000;

export interface StopRequest {
  signal: string;
  atMs: number;
}

export type StopSignalMeaning = 'stop' | 'same-request' | 'stop-now';

export function meaningOfStopSignal(first: StopRequest | undefined, signal: string, atMs: number): StopSignalMeaning {
  if (!first) return 'stop';
  if (signal === first.signal && atMs - first.atMs < SAME_REQUEST_WINDOW_MS) return 'same-request';
  return 'stop-now';
}
