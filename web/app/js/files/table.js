// The file browser's table: one row per loaded item, sorted in the page (the API lists in name
// order and has no sort parameter), rows added incrementally (a new page is merged into the
// rows already there, never re-rendering them), selection (checkboxes, shift ranges, select
// all) and keyboard navigation with a roving tabindex (one tab stop: the active row).
import { h, formatBytes, formatDate, icon } from '../ui.js';
import { filesHref } from '../router.js';

/** @typedef {{name: string, path: string, is_directory: boolean, size: number,
 *   modified?: number | null, modified_at?: string | null, content_type?: string | null,
 *   etag?: string | null}} Item */
/** @typedef {'name' | 'size' | 'modified'} SortKey */

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** @param {Item} it */
const time = (it) => (it.modified ?? (it.modified_at ? Date.parse(it.modified_at) / 1000 : 0)) || 0;

/**
 * @typedef {object} TableHooks
 * @property {(item: Item) => void} open folder: go in; file: download
 * @property {() => void} selectionChanged
 */

export class FileTable {
  /** @param {TableHooks} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {Item[]} items in display order */
    this.items = [];
    /** @type {Map<string, {item: Item, row: HTMLTableRowElement, box: HTMLInputElement}>} */
    this.byPath = new Map();
    /** @type {WeakMap<Element, Item>} */
    this.itemOf = new WeakMap();
    /** @type {Set<string>} selected paths */
    this.selected = new Set();
    /** @type {{key: SortKey, dir: 1 | -1}} */
    this.sort = { key: 'name', dir: 1 };
    /** @type {string | null} the row shift-click ranges start from */
    this.anchor = null;
    /** @type {HTMLTableRowElement | null} the row with tabindex 0 */
    this.active = null;

    this.all = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', 'aria-label': 'Select all loaded items',
      onchange: () => this.selectAll(this.all.checked) }));
    /** @type {Record<SortKey, HTMLElement>} */
    this.heads = {
      name: this.head('name', 'Name'),
      size: this.head('size', 'Size', 'num'),
      modified: this.head('modified', 'Modified', 'date'),
    };
    this.tbody = h('tbody', { onkeydown: (/** @type {KeyboardEvent} */ e) => this.key(e),
      onclick: (/** @type {MouseEvent} */ e) => this.click(e),
      ondblclick: (/** @type {MouseEvent} */ e) => this.dblclick(e),
      onfocusin: (/** @type {FocusEvent} */ e) => {
        const row = /** @type {HTMLElement} */ (e.target).closest('tr');
        if (row) this.activate(/** @type {HTMLTableRowElement} */ (row));
      } });
    this.el = h('table', { class: 'files', role: 'grid', 'aria-multiselectable': 'true', 'aria-label': 'Files' },
      h('thead', null, h('tr', null, h('th', { class: 'sel', scope: 'col' }, this.all),
        this.heads.name, this.heads.size, this.heads.modified)),
      this.tbody);
    this.updateHeads();
  }

  /** @param {SortKey} key @param {string} label @param {string} [cls] */
  head(key, label, cls) {
    return h('th', { scope: 'col', class: cls || null },
      h('button', { type: 'button', onclick: () => this.setSort(key) }, label, h('span', { class: 'arrow', 'aria-hidden': 'true' })));
  }

  updateHeads() {
    for (const [key, th] of Object.entries(this.heads)) {
      const on = key === this.sort.key;
      th.setAttribute('aria-sort', on ? (this.sort.dir === 1 ? 'ascending' : 'descending') : 'none');
      /** @type {HTMLElement} */ (th.querySelector('.arrow')).textContent = on ? (this.sort.dir === 1 ? ' ▲' : ' ▼') : '';
    }
  }

  /** Folders first, then the sort key, then the name. @param {Item} a @param {Item} b */
  cmp = (a, b) => {
    if (a.is_directory !== b.is_directory) return a.is_directory ? -1 : 1;
    const { key, dir } = this.sort;
    let c = 0;
    if (key === 'size') c = a.size - b.size;
    else if (key === 'modified') c = time(a) - time(b);
    if (c === 0) c = collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return c * dir;
  };

  /** Sorts by `key` (again: the other direction). Reorders the existing rows. @param {SortKey} key */
  setSort(key) {
    this.sort = this.sort.key === key ? { key, dir: this.sort.dir === 1 ? -1 : 1 } : { key, dir: key === 'name' ? 1 : -1 };
    this.updateHeads();
    this.items.sort(this.cmp);
    this.tbody.append(...this.items.map((it) => /** @type {any} */ (this.byPath.get(it.path)).row));
  }

  /** @param {Item} it */
  makeRow(it) {
    const box = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', tabindex: -1, 'aria-label': `Select ${it.name}` }));
    const name = it.is_directory
      ? h('a', { href: filesHref(it.path), tabindex: -1 }, icon('dir'), it.name)
      : h('button', { type: 'button', class: 'link', tabindex: -1, title: 'Download' }, icon('file'), it.name);
    const when = it.modified_at || it.modified;
    const row = /** @type {HTMLTableRowElement} */ (h('tr', { tabindex: -1, 'aria-selected': 'false' },
      h('td', { class: 'sel' }, box),
      h('td', { class: 'name' }, name),
      h('td', { class: 'num' }, it.is_directory ? h('span', { class: 'muted' }, '—') : formatBytes(it.size)),
      h('td', null, when ? formatDate(when) : h('span', { class: 'muted' }, '—'))));
    this.itemOf.set(row, it);
    this.byPath.set(it.path, { item: it, row, box });
    return row;
  }

  /** Replaces everything (a new folder, or a refresh). @param {Item[]} items @param {string | null} [focusPath] */
  reset(items, focusPath) {
    const keep = this.selected;
    this.items = [];
    this.byPath.clear();
    this.selected = new Set();
    this.active = null;
    this.tbody.replaceChildren();
    this.add(items);
    for (const p of keep) if (this.byPath.has(p)) this.setSelected(p, true);
    const target = (focusPath && this.byPath.get(focusPath)?.row) || null;
    if (target) this.activate(target);
    this.selectionChanged();
  }

  /**
   * Adds a page of items: each new row goes in at its sorted place, the rows already shown stay
   * where they are (a merge: O(loaded + new) comparisons, one DOM insertion per new row).
   * @param {Item[]} batch
   */
  add(batch) {
    const fresh = batch.filter((it) => !this.byPath.has(it.path)).sort(this.cmp);
    if (!fresh.length) return;
    const old = this.items;
    /** @type {Item[]} */
    const out = new Array(old.length + fresh.length);
    let i = 0, j = 0, k = 0;
    const tail = document.createDocumentFragment();
    while (j < fresh.length) {
      if (i < old.length && this.cmp(old[i], fresh[j]) <= 0) {
        out[k++] = old[i++];
        continue;
      }
      const row = this.makeRow(fresh[j]);
      if (i < old.length) this.tbody.insertBefore(row, /** @type {any} */ (this.byPath.get(old[i].path)).row);
      else tail.append(row);
      out[k++] = fresh[j++];
    }
    while (i < old.length) out[k++] = old[i++];
    this.tbody.append(tail);
    this.items = out;
    if (!this.active && out.length) this.activate(/** @type {any} */ (this.byPath.get(out[0].path)).row);
    this.updateAll();
  }

  /** @param {HTMLTableRowElement} row */
  activate(row) {
    if (this.active === row) return;
    if (this.active) this.active.tabIndex = -1;
    this.active = row;
    row.tabIndex = 0;
  }

  /** The focused row's item (the active row if focus is in the table). */
  focusedItem() {
    const row = document.activeElement?.closest?.('tr');
    return row && this.tbody.contains(row) ? this.itemOf.get(row) || null : null;
  }

  /** @param {string} path */
  focus(path) {
    const row = this.byPath.get(path)?.row;
    if (!row) return false;
    this.activate(row);
    row.focus();
    return true;
  }

  focusActive() {
    if (this.active) this.active.focus();
  }

  /** @param {string} path @param {boolean} on */
  setSelected(path, on) {
    const e = this.byPath.get(path);
    if (!e) return;
    if (on) this.selected.add(path);
    else this.selected.delete(path);
    e.box.checked = on;
    e.row.setAttribute('aria-selected', String(on));
  }

  /** @param {boolean} on */
  selectAll(on) {
    for (const it of this.items) this.setSelected(it.path, on);
    this.selectionChanged();
  }

  /** Only `path` selected. @param {string} path */
  selectOnly(path) {
    for (const p of [...this.selected]) if (p !== path) this.setSelected(p, false);
    this.setSelected(path, true);
    this.anchor = path;
    this.selectionChanged();
  }

  /** Sets the rows from the anchor to `path` (display order) to `on`. @param {string} path @param {boolean} on */
  range(path, on) {
    const a = this.anchor ? this.items.findIndex((it) => it.path === this.anchor) : -1;
    const b = this.items.findIndex((it) => it.path === path);
    if (a < 0 || b < 0) {
      this.setSelected(path, on);
    } else {
      for (let i = Math.min(a, b); i <= Math.max(a, b); i++) this.setSelected(this.items[i].path, on);
    }
    this.selectionChanged();
  }

  /** The selected items, in display order. */
  selection() {
    return this.items.filter((it) => this.selected.has(it.path));
  }

  selectionChanged() {
    this.updateAll();
    this.hooks.selectionChanged();
  }

  updateAll() {
    const n = this.selected.size;
    this.all.checked = n > 0 && n === this.items.length;
    this.all.indeterminate = n > 0 && n < this.items.length;
    this.all.disabled = this.items.length === 0;
  }

  /** @param {MouseEvent} e */
  click(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    const row = /** @type {HTMLTableRowElement | null} */ (target.closest('tr'));
    const it = row && this.itemOf.get(row);
    if (!row || !it) return;
    if (target instanceof HTMLInputElement && target.type === 'checkbox') {
      if (e.shiftKey) this.range(it.path, target.checked);
      else {
        this.setSelected(it.path, target.checked);
        this.anchor = it.path;
        this.selectionChanged();
      }
      return;
    }
    if (target.closest('button')) {
      e.preventDefault();
      this.hooks.open(it);
      return;
    }
    if (target.closest('a')) return; // the router follows the folder link
    if (e.shiftKey) this.range(it.path, true);
    else if (e.ctrlKey || e.metaKey) {
      this.setSelected(it.path, !this.selected.has(it.path));
      this.anchor = it.path;
      this.selectionChanged();
    } else this.selectOnly(it.path);
  }

  /** @param {MouseEvent} e */
  dblclick(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    if (target.closest('input, a, button')) return;
    const row = target.closest('tr');
    const it = row && this.itemOf.get(row);
    if (it) this.hooks.open(it);
  }

  /** Keys on a row: ↑/↓/Home/End/PageUp/PageDown move, Enter opens, Space selects. @param {KeyboardEvent} e */
  key(e) {
    const row = /** @type {HTMLElement} */ (e.target).closest('tr');
    if (!row || e.altKey || e.ctrlKey || e.metaKey) return;
    const it = this.itemOf.get(row);
    /** @type {Element | null} */
    let to = null;
    switch (e.key) {
      case 'ArrowDown': to = row.nextElementSibling; break;
      case 'ArrowUp': to = row.previousElementSibling; break;
      case 'Home': to = this.tbody.firstElementChild; break;
      case 'End': to = this.tbody.lastElementChild; break;
      case 'PageDown': case 'PageUp': {
        to = row;
        for (let i = 0; i < 10; i++) {
          const n = e.key === 'PageDown' ? to?.nextElementSibling : to?.previousElementSibling;
          if (!n) break;
          to = n;
        }
        break;
      }
      case 'Enter':
        if (it) this.hooks.open(it);
        e.preventDefault();
        return;
      case ' ':
        if (it) {
          if (e.shiftKey) this.range(it.path, true);
          else {
            this.setSelected(it.path, !this.selected.has(it.path));
            this.anchor = it.path;
            this.selectionChanged();
          }
        }
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    if (to instanceof HTMLTableRowElement) {
      this.activate(to);
      to.focus();
      const next = this.itemOf.get(to);
      if (e.shiftKey && next && it) {
        if (!this.anchor) this.anchor = it.path;
        this.range(next.path, true);
      }
    }
  }
}
