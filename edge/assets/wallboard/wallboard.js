/*
 * Wallboard page: credentials, the account picker, and rendering the model onto the DOM.
 * Rows and feed items are keyed and updated in place, so a screen reader or a test holding an
 * element keeps it for as long as the call or event is shown.
 *
 * Credentials live in memory; only if the user ticks "remember" are they kept in
 * sessionStorage, which dies with the tab; nothing is ever put in the URL or in storage that
 * outlives the tab.
 */
(function () {
  'use strict';

  const Model = globalThis.WallboardModel;
  const LinkModule = globalThis.WallboardLink;
  const STORAGE_KEY = 'blackhole-wallboard-login';
  const ACCOUNT_ID = /^[0-9a-f]{32}$/;

  const $ = (id) => document.getElementById(id);
  const el = {
    login: $('login'),
    loginForm: $('login-form'),
    loginAccount: $('login-account'),
    loginToken: $('login-token'),
    loginRemember: $('login-remember'),
    loginError: $('login-error'),
    board: $('board'),
    accountName: $('account-name'),
    accountSwitch: $('account-switch'),
    accountPicker: $('account-picker'),
    signOut: $('sign-out'),
    connection: $('connection-state'),
    connectionText: $('connection-text'),
    connectionDetail: $('connection-detail'),
    clock: $('clock'),
    calls: $('active-calls'),
    noCalls: $('no-calls'),
    summary: $('active-summary'),
    feed: $('event-feed'),
    since: $('counters-since'),
    counters: {
      calls: $('count-calls'),
      answered: $('count-answered'),
      missed: $('count-missed'),
      wait: $('avg-wait'),
      talk: $('avg-talk'),
    },
  };

  const page = {
    demo: null,
    link: null,
    board: null,
    /** {name, accountId, token} of the board shown. */
    account: null,
    status: null,
    /** callId → {row, version, cells}. */
    rows: new Map(),
    /** feed seq → <li>. */
    items: new Map(),
  };

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const shortTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

  function node(tag, className, content) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (content !== undefined) element.textContent = content;
    return element;
  }

  // ---- credentials ------------------------------------------------------------------------

  function savedLogin() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      if (saved && ACCOUNT_ID.test(saved.accountId) && saved.token) return saved;
    } catch (err) {
      // Storage disabled or garbage: ask again.
    }
    return null;
  }

  function forgetLogin() {
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch (err) {
      // Storage disabled: nothing was kept.
    }
  }

  function showLogin(message) {
    stopLink();
    page.board = null;
    page.account = null;
    el.board.hidden = true;
    el.signOut.hidden = true;
    el.login.hidden = false;
    el.loginError.textContent = message || '';
    el.loginToken.value = '';
    el.accountName.textContent = '';
    page.status = { state: 'error', detail: message || 'waiting for an account id and token', retryAt: null };
    renderStatus();
    if (!el.loginAccount.value) el.loginAccount.focus();
    else el.loginToken.focus();
  }

  el.loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const accountId = el.loginAccount.value.trim().toLowerCase();
    const token = el.loginToken.value.trim();
    if (!ACCOUNT_ID.test(accountId)) {
      el.loginError.textContent = 'The account id is 32 hexadecimal characters.';
      el.loginAccount.focus();
      return;
    }
    if (!token) {
      el.loginError.textContent = 'Enter the auth token.';
      el.loginToken.focus();
      return;
    }
    if (el.loginRemember.checked) {
      try {
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ accountId: accountId, token: token }));
      } catch (err) {
        // Storage disabled: the login still works for this page.
      }
    } else {
      forgetLogin();
    }
    el.loginToken.value = '';
    connect({ name: '', accountId: accountId, token: token });
  });

  el.signOut.addEventListener('click', () => {
    forgetLogin();
    showLogin('');
  });

  el.accountPicker.addEventListener('change', () => {
    const account = page.demo && page.demo[Number(el.accountPicker.value)];
    if (account) connect(account);
  });

  // ---- connection -------------------------------------------------------------------------

  function stopLink() {
    if (page.link) page.link.stop();
    page.link = null;
  }

  function connect(account) {
    stopLink();
    const now = Date.now();
    page.board = new Model.Board(account.accountId, now);
    page.account = account;
    page.rows.forEach((entry) => entry.row.remove());
    page.rows.clear();
    page.items.forEach((item) => item.remove());
    page.items.clear();
    el.login.hidden = true;
    el.loginError.textContent = '';
    el.board.hidden = false;
    el.signOut.hidden = Boolean(page.demo);
    el.since.textContent = shortTime.format(new Date(now));
    el.since.dateTime = new Date(now).toISOString();
    const board = page.board;
    const link = new LinkModule.Link({
      url: LinkModule.socketUrl(window.location),
      accountId: account.accountId,
      token: account.token,
      onStatus: (status) => {
        // Calls seen before a drop may end unseen while the link is down.
        if (page.status && page.status.state === 'connected' && status.state !== 'connected') {
          board.markStale(Date.now());
          renderCalls();
        }
        page.status = status;
        renderStatus();
      },
      onEvent: (envelope) => {
        if (board.apply(envelope, Date.now())) render();
      },
      onFatal: (message) => {
        forgetLogin();
        showLogin(message);
      },
    });
    page.link = link;
    page.status = null;
    render();
    link.start();
  }

  window.addEventListener('online', () => {
    if (page.link) page.link.retryNow();
  });

  // ---- rendering --------------------------------------------------------------------------

  const STATE_TEXT = {
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    error: 'Not connected',
  };

  function renderStatus() {
    const status = page.status;
    if (!status) return;
    el.connection.dataset.state = status.state;
    el.connectionText.textContent = STATE_TEXT[status.state] || status.state;
    let detail = status.detail;
    if (status.retryAt) {
      const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
      detail = (detail ? detail + ' · ' : '') + 'retrying in ' + seconds + ' s';
    }
    if (el.connectionDetail.textContent !== detail) el.connectionDetail.textContent = detail;
  }

  function render() {
    renderCalls();
    renderFeed();
    renderCounters();
    renderAccount();
  }

  function renderAccount() {
    const board = page.board;
    const name = (page.account && page.account.name) || (board && board.accountName) || '';
    const label = name || (page.account ? page.account.accountId : '');
    if (el.accountName.textContent !== label) el.accountName.textContent = label;
  }

  function partyCell(cell, name, number) {
    cell.textContent = '';
    const main = name && name !== number ? name : number || name || 'unknown';
    cell.appendChild(node('span', 'party-name', main));
    if (number && main !== number) cell.appendChild(node('span', 'party-number', number));
  }

  function createRow(call) {
    const row = node('tr', 'call');
    row.dataset.callId = call.id;
    const cells = {
      caller: node('td', 'party'),
      callee: node('td', 'party'),
      direction: node('td', 'direction'),
      state: node('td', 'state'),
      wait: node('td', 'duration wait'),
      talk: node('td', 'duration talk'),
    };
    cells.wait.dataset.label = 'Wait';
    cells.talk.dataset.label = 'Talk';
    cells.stateLabel = node('span', 'state-label');
    cells.hold = node('span', 'hold-time');
    cells.stale = node('span', 'stale-note', 'unconfirmed');
    cells.stale.title = 'Seen before the connection dropped; it may have ended since.';
    cells.state.append(cells.stateLabel, cells.hold, cells.stale);
    row.append(cells.caller, cells.callee, cells.direction, cells.state, cells.wait, cells.talk);
    return { row: row, version: -1, cells: cells };
  }

  function updateRow(entry, call) {
    const { row, cells } = entry;
    row.dataset.state = call.state;
    row.dataset.direction = call.direction || 'unknown';
    row.dataset.stale = String(call.stale);
    partyCell(cells.caller, call.callerName, call.callerNumber);
    partyCell(cells.callee, call.calleeName, call.calleeNumber);
    cells.direction.textContent =
      call.direction === 'inbound' ? '↓ In' : call.direction === 'outbound' ? '↑ Out' : '?';
    cells.direction.title = call.direction || 'direction unknown';
    cells.stateLabel.textContent =
      call.state === 'ringing' ? 'Ringing' : call.state === 'on-hold' ? 'On hold' : 'Answered';
    cells.stale.hidden = !call.stale;
    entry.version = call.version;
  }

  function tickRow(entry, call, now) {
    const t = Model.timings(call, now);
    const show = (cell, ms, exact) => {
      const value = ms === null ? '—' : (exact ? '' : '≥ ') + Model.formatDuration(ms);
      if (cell.textContent !== value) cell.textContent = value;
    };
    show(entry.cells.wait, t.wait, t.waitExact);
    show(entry.cells.talk, t.talk, t.talkExact);
    const hold = t.hold === null ? '' : Model.formatDuration(t.hold);
    if (entry.cells.hold.textContent !== hold) entry.cells.hold.textContent = hold;
  }

  function renderCalls() {
    const board = page.board;
    if (!board) return;
    const now = Date.now();
    const calls = board.activeCalls();
    const live = new Set(calls.map((c) => c.id));
    for (const [id, entry] of page.rows) {
      if (!live.has(id)) {
        entry.row.remove();
        page.rows.delete(id);
      }
    }
    let previous = null;
    for (const call of calls) {
      let entry = page.rows.get(call.id);
      if (!entry) {
        entry = createRow(call);
        page.rows.set(call.id, entry);
      }
      if (entry.version !== call.version) updateRow(entry, call);
      tickRow(entry, call, now);
      const expected = previous ? previous.nextSibling : el.calls.firstChild;
      if (expected !== entry.row) el.calls.insertBefore(entry.row, expected);
      previous = entry.row;
    }
    el.noCalls.hidden = calls.length > 0;
    const count = (state) => calls.filter((c) => c.state === state).length;
    const summary = [
      [count('ringing'), 'ringing'],
      [count('answered'), 'talking'],
      [count('on-hold'), 'on hold'],
    ]
      .map(([n, label]) => n + ' ' + label)
      .join(' · ');
    if (el.summary.textContent !== summary) el.summary.textContent = summary;
  }

  function feedParty(p) {
    if (p.name && p.number && p.name !== p.number) return p.name + ' (' + p.number + ')';
    return p.name || p.number || '?';
  }

  function createItem(entry) {
    const item = node('li', 'feed-item');
    item.dataset.event = entry.name;
    item.dataset.callId = entry.callId;
    const when = new Date(entry.ts === null ? entry.at : entry.ts);
    const time = node('time', 'feed-time', timeFormat.format(when));
    time.dateTime = when.toISOString();
    const label = node('span', 'feed-event', entry.label);
    label.title = entry.name;
    const parties = node('span', 'feed-parties', feedParty(entry.caller) + ' → ' + feedParty(entry.callee));
    item.append(time, label);
    if (entry.cause) item.appendChild(node('span', 'feed-cause', entry.cause));
    item.appendChild(parties);
    return item;
  }

  function renderFeed() {
    const board = page.board;
    if (!board) return;
    const keep = new Set(board.feed.map((e) => e.seq));
    for (const [seq, item] of page.items) {
      if (!keep.has(seq)) {
        item.remove();
        page.items.delete(seq);
      }
    }
    let previous = null;
    for (const entry of board.feed) {
      let item = page.items.get(entry.seq);
      if (!item) {
        item = createItem(entry);
        page.items.set(entry.seq, item);
      }
      const expected = previous ? previous.nextSibling : el.feed.firstChild;
      if (expected !== item) el.feed.insertBefore(item, expected);
      previous = item;
    }
  }

  function setCounter(element, value, shown) {
    const raw = value === null ? '' : String(value);
    if (element.dataset.value !== raw) element.dataset.value = raw;
    if (element.textContent !== shown) element.textContent = shown;
  }

  function renderCounters() {
    const board = page.board;
    if (!board) return;
    const c = board.counters(Date.now());
    const seconds = (ms) => (ms === null ? null : Math.round(ms / 1000));
    const average = (ms) => (ms === null ? '—' : Model.formatDuration(seconds(ms) * 1000));
    setCounter(el.counters.calls, c.calls, String(c.calls));
    setCounter(el.counters.answered, c.answered, String(c.answered));
    setCounter(el.counters.missed, c.missed, String(c.missed));
    setCounter(el.counters.wait, seconds(c.avgWaitMs), average(c.avgWaitMs));
    setCounter(el.counters.talk, seconds(c.avgTalkMs), average(c.avgTalkMs));
  }

  function tick() {
    const now = Date.now();
    el.clock.textContent = shortTime.format(new Date(now));
    el.clock.dateTime = new Date(now).toISOString();
    if (page.board) {
      if (page.board.prune(now)) render();
      else {
        renderCalls();
        renderCounters();
      }
    }
    renderStatus();
  }

  // ---- start ------------------------------------------------------------------------------

  function startDemo(accounts) {
    page.demo = accounts.map((a) => ({
      name: String(a.name || a.account_id),
      accountId: String(a.account_id).toLowerCase(),
      token: String(a.auth_token),
    }));
    el.accountPicker.textContent = '';
    page.demo.forEach((account, i) => {
      const option = node('option', '', account.name);
      option.value = String(i);
      el.accountPicker.appendChild(option);
    });
    el.accountSwitch.hidden = false;
    connect(page.demo[0]);
  }

  function startWithoutDemo() {
    const saved = savedLogin();
    if (saved) connect({ name: '', accountId: saved.accountId, token: saved.token });
    else showLogin('');
  }

  async function boot() {
    // Aligns the ticks on the second, so every duration on the board turns over together.
    setTimeout(() => {
      tick();
      setInterval(tick, 1000);
    }, 1000 - (Date.now() % 1000));
    tick();
    let config = null;
    try {
      const response = await fetch('/wallboard/config.json', { cache: 'no-store', credentials: 'same-origin' });
      if (response.ok) config = await response.json();
    } catch (err) {
      // An edge without the config endpoint: fall back to asking for credentials.
    }
    const accounts = config && config.demo && config.demo.accounts;
    if (Array.isArray(accounts) && accounts.length > 0) startDemo(accounts);
    else startWithoutDemo();
  }

  boot();
})();
