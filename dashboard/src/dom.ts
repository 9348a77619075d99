/** Builds DOM nodes. Text always goes in as text nodes, never as HTML, so no API string can become markup. */

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (event: Event) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>;

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const item of child) append(parent, item);
  } else if (child instanceof Node) {
    parent.appendChild(child);
  } else {
    parent.appendChild(document.createTextNode(String(child)));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      element.addEventListener(name.replace(/^on/, '').toLowerCase(), value);
    } else if (name === 'value' && 'value' in element) {
      (element as HTMLInputElement).value = String(value);
    } else {
      element.setAttribute(name === 'className' ? 'class' : name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * A value shown on screen with the API field it comes from, in its tooltip and in data-source: every number can be
 * traced to what a script would read.
 */
export function traced(value: Child, source: string, className = 'value'): HTMLSpanElement {
  return h('span', { class: className, title: source, 'data-source': source }, value);
}

export function section(title: string, attrs: Attrs, ...children: Child[]): HTMLElement {
  return h('section', { class: 'panel', ...attrs }, h('h2', null, title), ...children);
}

/** A section whose endpoint this deployment does not have (yet): says so instead of failing. */
export function notAvailable(what: string, endpoint: string): HTMLElement {
  return h('p', { class: 'not-available', 'data-unavailable': endpoint }, `${what}: not available (${endpoint} answered 404 on this deployment)`);
}
