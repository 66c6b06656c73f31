// Todos: policies at work, with @modelcast/client. Sign in as a demo user (tokens from the
// development-only /dev/tokens.json); "My todos" lists what you own, with notes; each team
// list shows the team's todos as the policies let you see them: a teammate's todo comes
// without `notes` (config/policies.json sends Team-<id> only title, done, owner_id, team_id),
// and a private one not at all.
import { connect } from '/client/index.js';
import { schema } from '/models.js';
import { apiOrigin } from '/api-origin.js';

const $ = (id) => document.getElementById(id);
let users = [];
let client = null;
let lives = [];

async function loadUsers() {
  const res = await fetch('/dev/tokens.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`no demo tokens here (${res.status}): start the stack with make run (MC_DEV_TOKENS=1)`);
  return (await res.json()).users;
}

function errorText(e) {
  const lines = [e.message];
  if (e.code === 'invalid' && e.details) for (const [a, m] of Object.entries(e.details)) lines.push(`${a}: ${m.join(', ')}`);
  return lines.join('\n');
}

const nameOf = (sub) => users.find((u) => u.claims.sub === String(sub))?.name ?? `user ${sub}`;

function showSignIn(message = '') {
  $('sign-in').hidden = false;
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('me').textContent = '';
  $('sign-in-error').textContent = message;
  $('users').replaceChildren(...users.map((u) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.user = u.id;
    b.textContent = `${u.name} (user ${u.claims.sub}${u.claims.teams?.length ? `, team ${u.claims.teams.join(', ')}` : ''})`;
    b.addEventListener('click', () => signIn(u.id));
    return b;
  }));
}

function signOut() {
  for (const l of lives) l.close();
  lives = [];
  if (client) client.close();
  client = null;
  sessionStorage.removeItem('todos-user');
  showSignIn();
}
$('sign-out').addEventListener('click', signOut);

function todoItem(t, me, { mine }) {
  const li = document.createElement('li');
  li.className = `todo${t.done ? ' done' : ''}`;
  li.dataset.id = String(t.id);
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = !!t.done;
  box.disabled = String(t.owner_id) !== me.claims.sub; // the policies: only the owner writes
  box.addEventListener('change', () => act(() => client.model('Todo').update(t, { done: box.checked })));
  const text = document.createElement('div');
  text.className = 'grow';
  const title = document.createElement('span');
  title.className = 'title';
  title.textContent = t.title;
  text.append(title);
  const tags = [];
  if (t.private) tags.push('private');
  if (mine && t.team_id) tags.push(`team ${t.team_id}`);
  if (!mine) tags.push(String(t.owner_id) === me.claims.sub ? 'yours' : nameOf(t.owner_id));
  for (const tag of tags) {
    const s = document.createElement('span');
    s.className = 'tag';
    s.textContent = tag;
    text.append(' ', s);
  }
  const notes = document.createElement('div');
  if ('notes' in t) {
    notes.className = 'notes';
    notes.textContent = t.notes ?? '';
  } else {
    notes.className = 'hidden-notes';
    notes.textContent = 'notes not shared with you';
  }
  text.append(notes);
  li.append(box, text);
  if (mine) {
    const priv = document.createElement('button');
    priv.className = 'plain small';
    priv.textContent = t.private ? 'share' : 'make private';
    priv.addEventListener('click', () => act(() => client.model('Todo').update(t, { private: !t.private })));
    const del = document.createElement('button');
    del.className = 'danger small';
    del.textContent = 'delete';
    del.addEventListener('click', () => act(() => client.model('Todo').destroy(t)));
    li.append(priv, del);
  }
  return li;
}

function empty(text) {
  const li = document.createElement('li');
  li.className = 'empty';
  li.textContent = text;
  return li;
}

async function act(fn) {
  $('app-error').textContent = '';
  try {
    await fn();
  } catch (e) {
    $('app-error').textContent = errorText(e);
  }
}

function signIn(id) {
  const me = users.find((u) => u.id === id);
  if (!me) return showSignIn(`no demo user '${id}'`);
  sessionStorage.setItem('todos-user', id);
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  $('me').textContent = `signed in as ${me.name}`;
  $('me').dataset.user = id;
  // getToken: asked first, on every reconnect and when the server says the token expired.
  client = connect({
    url: apiOrigin(),
    schema,
    getToken: async () => (await loadUsers()).find((u) => u.id === id)?.token ?? null,
  });
  window.todos = { client, me };
  client.on('state', (s) => {
    $('status').dataset.state = s;
    $('status').textContent = s;
  });
  client.on('error', (e) => console.warn('modelcast:', e.code, e.message));
  const Todo = client.model('Todo');
  const teams = me.claims.teams ?? [];
  $('t-team').replaceChildren(new Option('nobody', ''), ...teams.map((t) => new Option(`team ${t}`, String(t))));
  if (teams.length) $('t-team').value = String(teams[0]);

  const mine = Todo.where({ owner_id: Number(me.claims.sub) }).order('-created_at').live((records) => {
    $('mine').replaceChildren(...(records.length ? records.map((t) => todoItem(t, me, { mine: true })) : [empty('nothing to do yet')]));
    $('mine-count').textContent = String(records.length);
  });
  lives = [mine];
  $('teams').replaceChildren(...teams.map((team) => {
    const section = document.createElement('section');
    section.className = 'card';
    section.innerHTML = '<h2></h2><ul class="list"></ul>';
    section.dataset.team = String(team);
    section.querySelector('h2').textContent = `Team ${team}`;
    const ul = section.querySelector('ul');
    lives.push(Todo.where({ team_id: team }).order('title').live((records) => {
      ul.replaceChildren(...(records.length ? records.map((t) => todoItem(t, me, { mine: false })) : [empty(`nothing shared with team ${team} yet`)]));
    }));
    return section;
  }));
  window.todos.lives = lives;
}

$('todo-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('t-error').textContent = '';
  const { me } = window.todos;
  const team = $('t-team').value;
  try {
    await client.model('Todo').create({
      title: $('t-title').value.trim(),
      notes: $('t-notes').value.trim() || null,
      team_id: team ? Number(team) : null,
      private: $('t-private').checked,
      done: false,
      owner_id: Number(me.claims.sub),
    });
    $('t-title').value = '';
    $('t-notes').value = '';
    $('t-private').checked = false;
  } catch (e) {
    $('t-error').textContent = errorText(e);
  }
});

try {
  users = await loadUsers();
  const wanted = new URLSearchParams(location.search).get('user') ?? sessionStorage.getItem('todos-user');
  if (wanted) signIn(wanted);
  else showSignIn();
} catch (e) {
  users = [];
  showSignIn(e.message);
}
