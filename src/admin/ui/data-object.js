// One object of the Data page: its JSON, the editor (PUT, or POST for a new one) and deletion with
// a confirmation. CTX is {entity, detail (the panel element), reload()}.

import {api, enc} from './api.js';
import {h, showError, prettyJson} from './dom.js';

function objectPath(ctx, id) {
  return '/api/entities/' + enc(ctx.entity.name) + '/objects' + (id === undefined ? '' : '/' + enc(id));
}

function close(ctx) {
  ctx.detail.hidden = true;
  ctx.detail.replaceChildren();
}

function panel(ctx, title, ...content) {
  const err = h('p', {id: 'object-error', class: 'error', role: 'alert', 'data-test': 'object-error', hidden: true});
  ctx.detail.replaceChildren(
    h('div', {class: 'detail-head'}, h('h3', {'data-test': 'object-title'}, title),
      h('button', {type: 'button', class: 'link', id: 'object-close', 'data-test': 'object-close',
        onclick: () => close(ctx)}, 'Close')),
    ...content, err);
  ctx.detail.hidden = false;
  ctx.detail.scrollIntoView({block: 'nearest'});
  return err;
}

// Shows object ID as JSON, with Edit and Delete.
export async function openDetail(ctx, id) {
  const pre = h('pre', {class: 'json', id: 'object-json', 'data-test': 'object-json'}, 'loading…');
  const confirmRow = h('div', {class: 'confirm', id: 'object-delete-confirm-row', hidden: true},
    'Delete ' + ctx.entity.name + ' ' + id + '? Devices and MongoDB delete it too. ',
    h('button', {type: 'button', class: 'danger', id: 'object-delete-confirm', 'data-test': 'object-delete-confirm'},
      'Delete'),
    h('button', {type: 'button', id: 'object-delete-cancel', 'data-test': 'object-delete-cancel'}, 'Cancel'));
  const edit = h('button', {type: 'button', id: 'object-edit', 'data-test': 'object-edit', disabled: true}, 'Edit');
  const del = h('button', {type: 'button', class: 'danger', id: 'object-delete', 'data-test': 'object-delete'}, 'Delete');
  const err = panel(ctx, ctx.entity.name + ' ' + id, h('div', {class: 'actions'}, edit, del), confirmRow, pre);
  ctx.detail.dataset.id = String(id);

  del.addEventListener('click', () => { confirmRow.hidden = false; });
  confirmRow.querySelector('#object-delete-cancel').addEventListener('click', () => { confirmRow.hidden = true; });
  confirmRow.querySelector('#object-delete-confirm').addEventListener('click', async () => {
    try {
      await api.del(objectPath(ctx, id));
      close(ctx);
      ctx.reload();
    } catch (e) {
      confirmRow.hidden = true;
      showError(err, e, 'Delete failed');
    }
  });

  let text;
  try {
    text = prettyJson(await api.getText(objectPath(ctx, id)));
  } catch (e) {
    pre.textContent = '';
    showError(err, e, 'Cannot load the object');
    return;
  }
  pre.textContent = text;
  edit.disabled = false;
  edit.addEventListener('click', () => openEditor(ctx, id, text));
}

// The editor for a new object: POST.
export function openCreate(ctx) {
  openEditor(ctx, undefined, '{\n}');
}

function openEditor(ctx, id, text) {
  const isNew = id === undefined;
  const editor = h('textarea', {id: 'object-editor', 'data-test': 'object-editor', class: 'mono', rows: 16,
    spellcheck: 'false'});
  editor.value = text;
  const save = h('button', {type: 'submit', class: 'primary', id: 'object-save', 'data-test': 'object-save'},
    isNew ? 'Create' : 'Save');
  const cancel = h('button', {type: 'button', id: 'object-cancel', 'data-test': 'object-cancel'}, 'Cancel');
  const form = h('form', {class: 'editor'}, editor,
    h('p', {class: 'muted'}, isNew ? 'The new object as JSON (docs/object-json.md); no id.'
      : 'A property left out keeps its value. The id comes from the page.'),
    h('div', {class: 'actions'}, save, cancel));
  const err = panel(ctx, isNew ? 'New ' + ctx.entity.name : 'Edit ' + ctx.entity.name + ' ' + id, form);
  cancel.addEventListener('click', () => (isNew ? close(ctx) : openDetail(ctx, id)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(editor.value);
    } catch (e) {
      showError(err, {message: 'Not valid JSON: ' + e.message});
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      showError(err, {message: 'The object must be a JSON object ({...})'});
      return;
    }
    save.disabled = true;
    try {
      // The text as typed: JSON.parse would round 64-bit integers.
      const stored = isNew ? await api.post(objectPath(ctx), editor.value)
        : await api.put(objectPath(ctx, id), editor.value);
      ctx.reload();
      await openDetail(ctx, isNew ? stored.id : id);
    } catch (e) {
      showError(err, e, isNew ? 'Create failed' : 'Save failed');
      save.disabled = false;
    }
  });
  editor.focus();
}
