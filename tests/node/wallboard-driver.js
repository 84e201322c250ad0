// Opens the edge's own wallboard page (GET /) in headless Chromium, optionally signs in through
// its login form, and answers JSON commands on stdin, one JSON line on stdout per command:
//   {"op":"snapshot"}                 the DOM state, plus everything the probe recorded
//   {"op":"screenshot","path":FILE}   a PNG of the viewport
//   {"op":"close"}                    closes the browser and exits
// argv: --url URL [--account ID --token TOKEN] [--width PX --height PX]
// Lines: {"type":"ready"} once the page is loaded (and the form submitted), {"type":"fatal"}
// before exiting on a failure, {"type":"reply","op":...} per command.
'use strict';

const readline = require('readline');
const { chromium } = require('playwright-core');

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

const url = arg('url');
const account = arg('account');
const token = arg('token');
const width = Number(arg('width', '1920'));
const height = Number(arg('height', '1080'));

// What the page did outside its DOM, which only the browser sees.
const seen = {
  requests: [],
  websockets: [],
  pageErrors: [],
  console: [],
  navigations: 0,
};

// Installed once the page has loaded. A MutationObserver keeps the history of every call row,
// feed item and connection state, so a state shown between two snapshots is still known, and a
// reload (which would wipe it, marker included) cannot go unnoticed.
function installProbe() {
  const probe = {
    marker: Date.now().toString(36) + '-' + Math.random().toString(36).slice(2),
    rows: {},
    feed: {},
    connection: [],
    lastRows: new Map(),
  };
  window.__wallboardProbe = probe;
  const tbody = document.getElementById('active-calls');
  const feed = document.getElementById('event-feed');
  const connection = document.getElementById('connection-state');

  function scanRows() {
    const now = new Map();
    for (const tr of tbody.querySelectorAll('tr[data-call-id]')) {
      now.set(tr.dataset.callId, tr.dataset.state || '');
    }
    const at = Date.now();
    for (const [id, state] of now) {
      if (probe.lastRows.get(id) !== state) (probe.rows[id] = probe.rows[id] || []).push({ state, at });
    }
    for (const id of probe.lastRows.keys()) {
      if (!now.has(id)) probe.rows[id].push({ state: 'gone', at });
    }
    probe.lastRows = now;
  }

  function scanFeed() {
    for (const li of feed.querySelectorAll('li[data-call-id]')) {
      const events = (probe.feed[li.dataset.callId] = probe.feed[li.dataset.callId] || []);
      if (!events.includes(li.dataset.event)) events.push(li.dataset.event);
    }
  }

  function scanConnection() {
    const state = connection.dataset.state;
    const last = probe.connection[probe.connection.length - 1];
    if (!last || last.state !== state) probe.connection.push({ state, at: Date.now() });
  }

  new MutationObserver(scanRows).observe(tbody, {
    childList: true, subtree: true, attributes: true, attributeFilter: ['data-state'],
  });
  new MutationObserver(scanFeed).observe(feed, { childList: true });
  new MutationObserver(scanConnection).observe(connection, {
    attributes: true, attributeFilter: ['data-state'],
  });
  scanRows();
  scanFeed();
  scanConnection();
  return probe.marker;
}

function readDom() {
  const text = (e) => (e ? e.textContent.replace(/\s+/g, ' ').trim() : '');
  const byId = (id) => document.getElementById(id);
  const counter = (id) => ({ value: byId(id).dataset.value, text: text(byId(id)) });
  const party = (cell) => ({
    name: text(cell.querySelector('.party-name')),
    number: text(cell.querySelector('.party-number')),
  });
  const probe = window.__wallboardProbe || null;
  const navigation = performance.getEntriesByType('navigation')[0];
  return {
    connection: {
      state: byId('connection-state').dataset.state,
      text: text(byId('connection-text')),
      detail: text(byId('connection-detail')),
    },
    loginVisible: !byId('login').hidden,
    loginError: text(byId('login-error')),
    boardVisible: !byId('board').hidden,
    calls: Array.from(document.querySelectorAll('#active-calls tr[data-call-id]')).map((tr) => ({
      id: tr.dataset.callId,
      state: tr.dataset.state,
      stale: tr.dataset.stale === 'true',
      direction: tr.dataset.direction,
      caller: party(tr.cells[0]),
      callee: party(tr.cells[1]),
    })),
    counters: {
      calls: counter('count-calls'),
      answered: counter('count-answered'),
      missed: counter('count-missed'),
      avgWait: counter('avg-wait'),
      avgTalk: counter('avg-talk'),
    },
    feed: Array.from(document.querySelectorAll('#event-feed li')).map((li) => ({
      event: li.dataset.event,
      callId: li.dataset.callId,
    })),
    accounts: Array.from(byId('account-picker').options).map((o) => o.textContent),
    marker: probe ? probe.marker : null,
    navigationType: navigation ? navigation.type : null,
    timeOrigin: performance.timeOrigin,
    history: probe ? { rows: probe.rows, feed: probe.feed, connection: probe.connection } : null,
    now: Date.now(),
  };
}

async function signIn(page) {
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 30000 });
  await page.fill('#login-account', account);
  await page.fill('#login-token', token);
  // Enter, as someone at the keyboard would: the form must submit without a mouse.
  await page.press('#login-token', 'Enter');
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width, height } });
  page.on('request', (request) => seen.requests.push(request.url()));
  page.on('websocket', (ws) => seen.websockets.push(ws.url()));
  page.on('pageerror', (error) => seen.pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      seen.console.push(message.type() + ': ' + message.text());
    }
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) seen.navigations += 1;
  });

  await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  await page.evaluate(installProbe);
  if (account !== undefined) await signIn(page);
  out({ type: 'ready' });

  const origin = new URL(url).origin;
  const commands = readline.createInterface({ input: process.stdin });
  for await (const line of commands) {
    if (!line.trim()) continue;
    let command;
    try {
      command = JSON.parse(line);
    } catch (e) {
      out({ type: 'reply', op: null, error: 'not JSON: ' + line });
      continue;
    }
    try {
      if (command.op === 'snapshot') {
        const dom = await page.evaluate(readDom);
        out(Object.assign({ type: 'reply', op: 'snapshot', origin }, dom, {
          requests: seen.requests,
          websockets: seen.websockets,
          pageErrors: seen.pageErrors,
          console: seen.console,
          navigations: seen.navigations,
        }));
      } else if (command.op === 'screenshot') {
        await page.screenshot({ path: command.path });
        out({ type: 'reply', op: 'screenshot', path: command.path });
      } else if (command.op === 'close') {
        await browser.close();
        out({ type: 'reply', op: 'close' });
        process.exit(0);
      } else {
        out({ type: 'reply', op: command.op, error: 'unknown op' });
      }
    } catch (e) {
      out({ type: 'reply', op: command.op, error: String(e && e.stack ? e.stack : e) });
    }
  }
  // Stdin closed: the test is gone, so is the browser.
  await browser.close();
}

main().catch((e) => {
  out({ type: 'fatal', message: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
