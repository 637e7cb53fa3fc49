// The file browser at /files/<folder>: breadcrumbs, the folder's items 200 at a time ("Load
// more" adds rows without redrawing the others), sorting among the loaded items, selection with
// a toolbar and keyboard shortcuts, uploads (uploads.js), share links (share-dialog.js), ZIPs.
import { get } from '../api.js';
import { h, mount, toast, message } from '../ui.js';
import { navigate, filesHref } from '../router.js';
import { FileTable } from '../files/table.js';
import * as act from '../files/actions.js';
import { showRunningJobs } from '../files/folder-jobs.js';
import * as uploads from '../uploads.js';

const PAGE = 200;

/** @typedef {import('../files/table.js').Item} Item */

/** The view on screen (one at a time): what the document-wide listeners talk to. */
/** @type {{folder: string, refresh: () => void, keydown: (e: KeyboardEvent) => void, root: HTMLElement} | null} */
let current = null;
/** Where focus goes once the next folder is shown: a path (e.g. the folder we came up from) or its first row. */
/** @type {{path?: string, first?: boolean} | null} */
let focusNext = null;

document.addEventListener('vertex:files-changed', (ev) => {
  const folder = /** @type {CustomEvent} */ (ev).detail?.folder ?? '';
  if (!current || !current.root.isConnected) return;
  // Anything that lands here or below may change this listing (a new subfolder, a new file).
  if (folder === current.folder || current.folder === '' || folder.startsWith(current.folder + '/')) current.refresh();
});
document.addEventListener('keydown', (ev) => {
  if (current && current.root.isConnected) current.keydown(ev);
});

/** `/files/a%20b/c` → `a b/c`. @param {RegExpMatchArray} match */
function folderOf(match) {
  try {
    return (match[1] || '').split('/').filter(Boolean).map(decodeURIComponent).join('/');
  } catch {
    return '';
  }
}

/** @param {HTMLElement} main @param {{match: RegExpMatchArray}} params */
export default async function files(main, { match }) {
  const folder = folderOf(match);
  const name = act.baseName(folder) || 'My files';
  document.title = `${name} · VertexCloud`;

  const segments = folder ? folder.split('/') : [];
  const crumbs = h('nav', { 'aria-label': 'Breadcrumb' }, h('ol', { class: 'crumbs' },
    h('li', null, folder ? h('a', { href: '/files/' }, 'Home') : h('span', { 'aria-current': 'page' }, 'Home')),
    segments.map((s, i) => {
      const p = segments.slice(0, i + 1).join('/');
      return h('li', null, i === segments.length - 1 ? h('span', { 'aria-current': 'page' }, s) : h('a', { href: filesHref(p) }, s));
    })));

  const table = new FileTable({ open, selectionChanged: updateToolbar });
  /** @param {string} label @param {() => any} fn @param {string} [cls] */
  const button = (label, fn, cls) => {
    const b = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: cls || null }));
    b.textContent = label;
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await fn();
      } catch (e) {
        toast(message(e), 'error');
      } finally {
        b.disabled = false;
        updateToolbar();
      }
    });
    return b;
  };
  const tools = {
    download: button('Download', () => download(table.selection())),
    rename: button('Rename', () => doRename(table.selection()[0])),
    move: button('Move', () => doMove(table.selection(), 'move')),
    copy: button('Copy', () => doMove(table.selection(), 'copy')),
    share: button('Share', () => share(table.selection()[0])),
    del: button('Delete', () => doDelete(table.selection())),
  };
  const selInfo = h('span', { class: 'muted', 'aria-live': 'polite' });
  const toolbar = h('div', { class: 'toolbar' },
    button('Upload files', () => uploads.pickFiles(folder), 'primary'),
    button('Upload folder', () => uploads.pickFolder(folder)),
    button('New folder', async () => {
      const made = await act.newFolder(folder);
      if (made) await reload(made);
    }),
    h('span', { class: 'spacer' }),
    selInfo, tools.download, tools.rename, tools.move, tools.copy, tools.share, tools.del);

  const status = h('p', { class: 'muted files-status', 'aria-live': 'polite' });
  const empty = h('p', { class: 'empty muted', hidden: true },
    'This folder is empty. Drop files here or use Upload files.');
  const more = button('Load more', () => loadMore());
  more.hidden = true;
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const area = h('div', { class: 'drop files-area' }, table.el, empty);
  uploads.dropZone(area, () => folder);

  const root = h('div', { class: 'browser' },
    crumbs,
    h('h1', null, name),
    uploads.uploadPanel(),
    act.jobs,
    toolbar,
    error,
    area,
    h('div', { class: 'row' }, status, more));
  mount(main, root);
  void showRunningJobs();

  /** @type {string | null} */
  let cursor = null;
  let pages = 0;
  let gen = 0;
  let loading = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let debounce;

  function updateToolbar() {
    const n = table.selected.size;
    selInfo.textContent = n ? `${n} selected` : '';
    tools.download.disabled = n === 0;
    tools.rename.disabled = n !== 1;
    tools.share.disabled = n !== 1;
    tools.move.disabled = tools.copy.disabled = tools.del.disabled = n === 0;
  }

  function updateStatus() {
    const n = table.items.length;
    empty.hidden = n > 0 || loading || !error.hidden;
    table.el.hidden = n === 0 && !loading;
    more.hidden = !cursor;
    if (loading && !n) status.textContent = 'Loading…';
    else if (cursor) status.textContent = `${n} items loaded, sorted among the ${n} loaded; more are in this folder.`;
    else status.textContent = n ? `${n} item${n === 1 ? '' : 's'}` : '';
  }

  /** @param {string | null} c */
  function page(c) {
    return get('/files/list', { query: { path: folder, limit: PAGE, cursor: c } });
  }

  /**
   * Reads the folder again (as many pages as were loaded, up to 10), keeping selection and focus.
   * (A folder stays when its last item is deleted or moved out: the server keeps it, empty.)
   * @param {string | null} [focusPath]
   */
  async function reload(focusPath) {
    const mine = ++gen;
    // At most 10 pages again: a refresh after an upload must not re-read a 100,000-item folder.
    const want = Math.min(10, Math.max(1, pages));
    const hadFocus = !!table.focusedItem();
    const focused = focusPath || table.focusedItem()?.path || null;
    loading = true;
    updateStatus();
    try {
      /** @type {Item[]} */
      let all = [];
      let c = null;
      let n = 0;
      do {
        const r = await page(c);
        if (mine !== gen) return;
        all = all.concat(r.items);
        c = r.next_cursor;
        n++;
      } while (c && n < want);
      cursor = c;
      pages = n;
      error.hidden = true;
      table.reset(all, focused);
      if (focusPath || hadFocus) {
        if (!(focused && table.focus(focused))) table.focusActive();
      }
    } catch (e) {
      if (mine !== gen) return;
      table.reset([]);
      cursor = null;
      error.replaceChildren(message(e), ' ', folder ? h('a', { href: '/files/' }, 'Go to Home') : '');
      error.hidden = false;
    } finally {
      if (mine === gen) {
        loading = false;
        updateStatus();
        updateToolbar();
      }
    }
  }

  async function loadMore() {
    if (!cursor || loading) return;
    const mine = gen;
    loading = true;
    try {
      const r = await page(cursor);
      if (mine !== gen) return;
      cursor = r.next_cursor;
      pages++;
      table.add(r.items);
    } finally {
      if (mine === gen) {
        loading = false;
        updateStatus();
      }
    }
  }

  /** Folder: go in. File: download. @param {Item} it */
  function open(it) {
    if (it.is_directory) {
      focusNext = { first: !!table.focusedItem() };
      void navigate(filesHref(it.path));
    } else {
      act.downloadFile(it).catch((e) => toast(message(e), 'error'));
    }
  }

  /** @param {Item[]} items */
  async function download(items) {
    if (!items.length) return;
    if (items.length === 1 && !items[0].is_directory) return act.downloadFile(items[0]);
    const zipName = items.length === 1 ? items[0].name : act.baseName(folder) || 'files';
    await act.downloadZip(items.map((it) => it.path), zipName);
  }

  /** @param {Item | undefined} it */
  async function doRename(it) {
    if (!it) return;
    const to = await act.rename(it);
    if (to) await reload(to);
  }

  /** @param {Item[]} items @param {'move' | 'copy'} mode */
  async function doMove(items, mode) {
    if (!items.length) return;
    const to = await act.moveOrCopy(items, mode, folder);
    if (to !== null) await reload();
  }

  /** @param {Item[]} items */
  async function doDelete(items) {
    if (!items.length) return;
    const i = table.items.indexOf(items[0]);
    const done = await act.remove(items);
    if (!done) return;
    for (const it of items) table.setSelected(it.path, false);
    await reload();
    const next = table.items[Math.min(i, table.items.length - 1)];
    if (next) table.focus(next.path);
  }

  /** The share dialog (share-dialog.js) loads on first use. @param {Item | undefined} it */
  async function share(it) {
    if (!it) return;
    const { openShareDialog } = await import('../share-dialog.js');
    await openShareDialog({ path: it.path, name: it.name, is_directory: it.is_directory });
  }

  /** The selection, or else the focused row. */
  function targets() {
    const sel = table.selection();
    if (sel.length) return sel;
    const f = table.focusedItem();
    return f ? [f] : [];
  }

  /** Shortcuts anywhere in the browser but in a text field or a dialog. @param {KeyboardEvent} e */
  function keydown(e) {
    const t = /** @type {HTMLElement} */ (e.target);
    if (e.defaultPrevented || document.querySelector('dialog[open]')) return;
    if (t.closest?.('input:not([type=checkbox]), textarea, select, [contenteditable]')) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if ((e.key === 'Backspace' && !ctrl && !e.altKey) || (e.key === 'ArrowUp' && e.altKey)) {
      if (!folder) return;
      e.preventDefault();
      focusNext = { path: folder };
      void navigate(filesHref(act.parentOf(folder)));
    } else if (e.key === 'Delete' && !ctrl && !e.altKey) {
      const items = targets();
      if (!items.length) return;
      e.preventDefault();
      doDelete(items).catch((err) => toast(message(err), 'error'));
    } else if (e.key === 'F2') {
      const items = targets();
      if (items.length !== 1) return;
      e.preventDefault();
      doRename(items[0]).catch((err) => toast(message(err), 'error'));
    } else if (ctrl && !e.altKey && !e.shiftKey && (e.key === 'a' || e.key === 'A')) {
      if (!table.items.length) return;
      e.preventDefault();
      table.selectAll(true);
    } else if (e.key === 'Escape' && table.selected.size) {
      table.selectAll(false);
    }
  }

  current = {
    folder,
    root,
    keydown,
    refresh() {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload(), 300);
    },
  };

  updateToolbar();
  const wanted = focusNext;
  focusNext = null;
  await reload(wanted?.path || null);
  if (wanted?.first && !wanted.path) table.focusActive();
}
