import './styles.css';
import { Api, ApiError, session, whoami } from './api';
import { h, replaceChildren } from './dom';
import type { AlertList, Info, Whoami } from './model/api-types';
import { errorMessage, type View, type ViewContext } from './view';
import { alertsView } from './views/alerts';
import { entropyView } from './views/entropy';
import { keyDetailView } from './views/key-detail';
import { keysView } from './views/keys';
import { overviewView } from './views/overview';
import { scheduleView } from './views/schedule';

const NAV: Array<{ path: string; label: string }> = [
  { path: 'overview', label: 'Overview' },
  { path: 'keys', label: 'Keys' },
  { path: 'entropy', label: 'Entropy' },
  { path: 'schedule', label: 'Schedule' },
  { path: 'alerts', label: 'Alerts' },
];
const BADGE_POLL_MS = 5000;

function parseHash(hash: string): { view: string; params: string[]; query: URLSearchParams } {
  const [path = '', search = ''] = hash.replace(/^#\/?/, '').split('?');
  const [view = 'overview', ...params] = path.split('/').filter(Boolean).map((part) => decodeURIComponent(part));
  return { view, params, query: new URLSearchParams(search) };
}

function pickView(view: string, params: string[]): View | undefined {
  if (view === 'keys') return params.length > 0 ? keyDetailView : keysView;
  return { overview: overviewView, entropy: entropyView, schedule: scheduleView, alerts: alertsView }[view];
}

const app = document.getElementById('app') as HTMLElement;
/** Stops the signed-in shell (its router, its polling); set while one runs. */
let stopShell: (() => void) | undefined;

function signIn(message?: string): void {
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'kr_…', required: true });
  const error = h('p', { class: 'signin-error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    {
      class: 'signin',
      onSubmit: (event: Event) => {
        event.preventDefault();
        const value = token.value.trim();
        if (!value) return;
        error.textContent = 'checking…';
        whoami<Whoami>(value).then(
          (me) => {
            session.save(value);
            void start(value, me);
          },
          (failure: unknown) => {
            error.textContent = failure instanceof ApiError ? failure.message : errorMessage(failure);
          },
        );
      },
    },
    h('h1', null, 'keyrotor'),
    h('p', null, 'Sign in with an API token. It stays in this browser tab only (sessionStorage) and goes only to this API.'),
    h('label', null, 'API token', token),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error,
  );
  replaceChildren(app, h('main', { class: 'signin-page', 'data-view': 'signin' }, form));
  token.focus();
}

function signOut(message?: string): void {
  stopShell?.();
  stopShell = undefined;
  session.clear();
  window.location.hash = '';
  signIn(message);
}

async function start(token: string, me: Whoami): Promise<void> {
  const api = new Api(token, () => signOut('the token is no longer accepted; sign in again'));
  let info: Info;
  try {
    info = await api.get<Info>('/info');
  } catch (error) {
    signIn(errorMessage(error));
    return;
  }
  const badge = h('span', { class: 'alert-badge', 'data-testid': 'alert-badge', title: 'GET /alerts?state=open total' });
  const links = NAV.map((item) => h('a', { href: `#/${item.path}`, 'data-nav': item.path }, item.label, item.path === 'alerts' ? badge : null));
  const toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });
  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/overview' }, 'keyrotor'),
    h('nav', { class: 'main-nav' }, links),
    h(
      'div',
      { class: 'me' },
      h('span', { 'data-testid': 'whoami', title: 'GET /whoami' }, `${me.name} · `, h('strong', null, me.role)),
      h('button', { type: 'button', 'data-action': 'sign-out', onClick: () => signOut() }, 'Sign out'),
    ),
  );
  const outlet = h('div', { class: 'outlet' });
  replaceChildren(app, header, outlet, toasts);

  const toast = (message: string, kind: 'ok' | 'error' = 'ok'): void => {
    const note = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
    toasts.append(note);
    setTimeout(() => note.remove(), kind === 'error' ? 12_000 : 6000);
  };

  let badgeTimer: number | undefined;
  const refreshAlertBadge = (): void => {
    clearTimeout(badgeTimer);
    api.get<AlertList>('/alerts?state=open&limit=1').then(
      (open) => {
        badge.textContent = open.total > 0 ? String(open.total) : '';
        badge.dataset.count = String(open.total);
      },
      () => undefined,
    );
    badgeTimer = window.setTimeout(refreshAlertBadge, BADGE_POLL_MS);
  };
  refreshAlertBadge();

  let leave: Array<() => void> = [];
  const render = (): void => {
    for (const cleanup of leave) cleanup();
    leave = [];
    const route = parseHash(window.location.hash);
    const view = pickView(route.view, route.params);
    for (const link of links) link.classList.toggle('current', link.dataset.nav === route.view);
    // A new element per visit: a slow answer for a view already left lands in a detached node and shows nowhere.
    const root = h('main', { 'data-view': route.params.length > 0 && route.view === 'keys' ? 'key' : route.view, 'data-state': 'loading' });
    replaceChildren(outlet, root);
    if (!view) {
      replaceChildren(root, h('h1', null, 'Not found'), h('p', null, h('a', { href: '#/overview' }, 'to the overview')));
      return;
    }
    const ctx: ViewContext = {
      api,
      me,
      info,
      params: route.params,
      query: route.query,
      navigate: (hash) => {
        if (window.location.hash === hash) render();
        else window.location.hash = hash;
      },
      nowMs: () => Date.now(),
      onLeave: (cleanup) => leave.push(cleanup),
      toast,
      refreshAlertBadge,
    };
    view(root, ctx).catch((error: unknown) => {
      root.append(h('p', { class: 'error' }, errorMessage(error)));
      root.dataset.state = 'ready';
    });
  };
  window.onhashchange = render;
  stopShell = () => {
    window.onhashchange = null;
    clearTimeout(badgeTimer);
    for (const cleanup of leave) cleanup();
    leave = [];
  };
  if (!window.location.hash) window.location.hash = '#/overview';
  else render();
}

const saved = session.load();
if (saved) {
  whoami<Whoami>(saved).then(
    (me) => start(saved, me),
    () => signOut('sign in again'),
  );
} else {
  signIn();
}
