import type { Api } from './api';
import type { Info, KeyListItem, KeyList, Whoami } from './model/api-types';

export interface ViewContext {
  api: Api;
  me: Whoami;
  info: Info;
  /** Path segments after the view name: #/keys/<name> gives ['<name>']. */
  params: string[];
  query: URLSearchParams;
  navigate(hash: string): void;
  nowMs(): number;
  /** Runs when the view is left: stops timers, destroys charts. */
  onLeave(cleanup: () => void): void;
  toast(message: string, kind?: 'ok' | 'error'): void;
  /** Asks the header to count open alerts again (after an acknowledgement). */
  refreshAlertBadge(): void;
}

export type View = (root: HTMLElement, ctx: ViewContext) => Promise<void>;

/** Every key, page by page (the list is capped at 500 a page): for views that sum over all keys. */
export async function allKeys(api: Api): Promise<KeyListItem[]> {
  const pageSize = 500;
  const first = await api.get<KeyList>(`/keys?limit=${pageSize}&offset=0`);
  const rest = await Promise.all(
    Array.from({ length: Math.ceil(first.total / pageSize) - 1 }, (_, i) => api.get<KeyList>(`/keys?limit=${pageSize}&offset=${(i + 1) * pageSize}`)),
  );
  return [first, ...rest].flatMap((page) => page.keys);
}

/** Marks a view's root as loaded: tests and the bench wait for this. */
export function ready(root: HTMLElement): void {
  root.dataset.state = 'ready';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
