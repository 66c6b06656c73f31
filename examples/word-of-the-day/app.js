// Word of the Day: the Dictionary model live in a page, with @modelcast/client.
//   - "total definitions: N": a live count over the `defined` scope (definition and
//     pronunciation both set), counted again by the server when a change can alter it;
//   - a random defined entry, itself live (it follows edits; if it leaves the scope, another
//     is picked), and a "pick another" button;
//   - a form that adds a word, or edits one with If-Match (a conflict shows the current version);
//   - every word, live, ordered by word; delete shows what the policies say (admins only).
import { connect, ConflictError } from '/client/index.js';
import { schema } from '/models.js';
import { apiOrigin } from '/api-origin.js';

const $ = (id) => document.getElementById(id);
const client = connect({ url: apiOrigin(), schema });
const words = client.model('Dictionary');
window.wotd = { client };

client.on('state', (state) => {
  $('status').dataset.state = state;
  $('status').textContent = state;
});
client.on('error', (e) => console.warn('modelcast:', e.code, e.message));

function errorText(e) {
  const lines = [e.message];
  if (e.code === 'invalid' && e.details) {
    for (const [attr, msgs] of Object.entries(e.details)) lines.push(`${attr}: ${msgs.join(', ')}`);
  }
  return lines.join('\n');
}

// ----------------------------------------------------------------- total definitions
const total = words.scope('defined').liveCount((n) => {
  $('total').innerHTML = `total definitions: <b>${n}</b>`;
  $('total').dataset.count = String(n);
  if (!shown && n > 0) pickAnother();
});
window.wotd.total = total;

// ----------------------------------------------------------------- the random entry
let shown = null; // live collection of the entry on show
let picking = false;

function renderEntry(rec) {
  $('entry-word').textContent = rec ? rec.word : 'no word yet';
  $('entry-pronunciation').textContent = rec ? `/${rec.pronunciation}/` : '';
  $('entry-definition').textContent = rec ? rec.definition : 'Add a word with its pronunciation and definition.';
  $('entry').dataset.id = rec ? String(rec.id) : '';
}

async function randomDefined() {
  const defined = words.scope('defined');
  const [lo, hi] = await Promise.all([defined.order('id').first(), defined.order('-id').first()]);
  if (!lo) return null;
  const r = lo.id + Math.floor(Math.random() * (hi.id - lo.id + 1));
  return (await defined.where({ id: { gte: r } }).order('id').first()) ?? lo;
}

async function pickAnother() {
  if (picking) return;
  picking = true;
  try {
    const rec = await randomDefined();
    if (shown) shown.close();
    shown = null;
    renderEntry(rec);
    if (!rec) return;
    // Keep the entry live: edits show at once; if it leaves `defined`, pick another.
    shown = words.scope('defined').where({ id: rec.id }).live((records) => {
      if (records.length) renderEntry(records[0]);
      else setTimeout(pickAnother, 0);
    });
  } catch (e) {
    $('entry-definition').textContent = errorText(e);
  } finally {
    picking = false;
  }
}
$('pick').addEventListener('click', pickAnother);

// ----------------------------------------------------------------- add or edit
let editing = null; // the record being edited (its version goes as If-Match)

function fillForm(rec) {
  editing = rec;
  $('f-word').value = rec ? rec.word : '';
  $('f-pronunciation').value = rec?.pronunciation ?? '';
  $('f-definition').value = rec?.definition ?? '';
  $('form-title').textContent = rec ? `Edit “${rec.word}”` : 'Add a word';
  $('f-save').textContent = rec ? 'save' : 'add';
  $('f-cancel').hidden = !rec;
}

$('f-cancel').addEventListener('click', () => {
  fillForm(null);
  $('f-error').textContent = '';
});

$('word-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('f-error').textContent = '';
  const value = (id) => $(id).value.trim() || null; // an emptied field clears the attribute
  const attrs = { word: $('f-word').value.trim(), pronunciation: value('f-pronunciation'), definition: value('f-definition') };
  try {
    if (editing) await words.update(editing, attrs);
    else await words.create(attrs);
    fillForm(null);
  } catch (e) {
    if (e instanceof ConflictError && e.current) {
      fillForm(e.current);
      $('f-error').textContent = `Someone changed this word meanwhile (now version ${e.current.version}); the form shows their version.`;
    } else {
      $('f-error').textContent = errorText(e);
    }
  }
});

// ----------------------------------------------------------------- every word
const known = new Map(); // id -> version shown, to highlight what changed

function renderList(records) {
  const ul = $('words');
  if (!records.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'no words yet: add the first one';
    ul.replaceChildren(li);
  } else ul.replaceChildren(...records.map((r) => {
    const li = document.createElement('li');
    li.dataset.id = String(r.id);
    if (known.has(r.id) && known.get(r.id) !== r.version) li.classList.add('fresh');
    if (known.size && !known.has(r.id)) li.classList.add('fresh');
    const text = document.createElement('div');
    text.className = 'grow';
    text.innerHTML = '<span class="word"></span><span class="pron"></span><div class="def"></div>';
    text.querySelector('.word').textContent = r.word;
    text.querySelector('.pron').textContent = r.pronunciation ? `/${r.pronunciation}/` : '';
    text.querySelector('.def').textContent = r.definition ?? '—';
    const edit = document.createElement('button');
    edit.className = 'plain small';
    edit.textContent = 'edit';
    edit.addEventListener('click', () => fillForm(r));
    const del = document.createElement('button');
    del.className = 'danger small';
    del.textContent = 'delete';
    del.addEventListener('click', async () => {
      $('list-error').textContent = '';
      try {
        await words.destroy(r);
      } catch (e) {
        $('list-error').textContent = errorText(e);
      }
    });
    li.append(text, edit, del);
    return li;
  }));
  known.clear();
  for (const r of records) known.set(r.id, r.version);
  $('list-count').textContent = `${records.length} words`;
  $('list-count').dataset.count = String(records.length);
}

window.wotd.list = words.order('word').live(renderList);
window.wotd.list.ready.catch((e) => { $('list-error').textContent = errorText(e); });
total.ready.then(() => { if (!shown) pickAnother(); }).catch((e) => { $('total').textContent = errorText(e); });
