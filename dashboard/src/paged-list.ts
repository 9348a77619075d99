import { h, replaceChildren } from './dom';

/** The parts of a paged table that a list view fills: the status line, the table's body and the pager. */
export interface PagedTable {
  status: HTMLParagraphElement;
  /** The scrollable table, its header row given, its body `body`. */
  table: HTMLDivElement;
  body: HTMLTableSectionElement;
  pager: HTMLElement;
}

/** A column heading: its label, or a cell of its own (a column that small screens hide). */
export type Heading = string | HTMLTableCellElement;

export function pagedTable(className: string, headings: Heading[]): PagedTable {
  const body = h('tbody');
  const header = h('tr', null, headings.map((heading) => (typeof heading === 'string' ? h('th', null, heading) : heading)));
  return {
    status: h('p', { class: 'list-status', 'aria-live': 'polite' }, 'loading…'),
    table: h('div', { class: 'table-wrap' }, h('table', { class: className }, h('thead', null, header), body)),
    body,
    pager: h('nav', { class: 'pager' }),
  };
}

/** Fills the pager: previous, where the list stands, next. `go` opens another page. */
export function showPages(pager: HTMLElement, page: number, total: number, pageSize: number, go: (page: number) => void): void {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  replaceChildren(
    pager,
    h('button', { type: 'button', 'data-page': 'previous', disabled: page <= 1, onClick: () => go(page - 1) }, '← previous'),
    h('span', null, `page ${page} of ${pages}`),
    h('button', { type: 'button', 'data-page': 'next', disabled: page >= pages, onClick: () => go(page + 1) }, 'next →'),
  );
}

/** The options of a filter's select, `selected` chosen. */
export function choices(values: string[], selected: string): HTMLOptionElement[] {
  return values.map((value) => h('option', { value, ...(value === selected ? { selected: true } : {}) }, value));
}
