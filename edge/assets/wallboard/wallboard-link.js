/*
 * Wallboard link: one Kazoo 4.x JSON websocket subscribed to an account's call events, kept up
 * for as long as the page wants it. It reconnects with a jittered backoff (1 s up to 10 s) and
 * subscribes again on every new socket, since a subscription dies with its socket.
 *
 * The WebSocket constructor, timers, clock and randomness are injectable for the node tests.
 */
(function (root) {
  'use strict';

  const BINDING = 'call.*.*';
  const FIRST_RETRY_MS = 1000;
  const MAX_RETRY_MS = 10000;
  /** A subscribe with no reply by then means a stuck server or socket. */
  const REPLY_TIMEOUT_MS = 10000;
  /**
   * Kazoo closes a socket after an hour without a frame from its client, and a socket over a
   * dead network path can look open for much longer: a periodic ping covers both.
   */
  const PING_EVERY_MS = 30000;
  const PING_TIMEOUT_MS = 15000;

  /** Replies meaning this account id and token will never work: ask for new ones. */
  const FATAL_ERRORS = [
    'failed to authenticate token',
    'authentication token required',
    'invalid authentication token format',
    'unauthorized account id',
    'unauthorized wildcard account id',
    'auth_account_id not set',
  ];

  /** The delay before retry number `attempt` (0-based): doubling, capped, jittered downwards. */
  function retryDelay(attempt, random) {
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * Math.pow(2, attempt));
    return Math.max(FIRST_RETRY_MS, Math.round(base * (0.7 + 0.3 * random())));
  }

  /** The websocket URL of the page's own server. */
  function socketUrl(location) {
    return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/ws';
  }

  function isFatal(message) {
    return FATAL_ERRORS.some((prefix) => message.startsWith(prefix));
  }

  /**
   * options: url, accountId, token, onStatus({state, detail, retryAt}), onEvent(envelope),
   * onFatal(message); optional WebSocket, setTimeout, clearTimeout, now, random.
   * States: connecting (never subscribed yet), connected, reconnecting, error (given up).
   */
  class Link {
    constructor(options) {
      this.url = options.url;
      this.accountId = options.accountId;
      this.token = options.token;
      this.onStatus = options.onStatus || function () {};
      this.onEvent = options.onEvent || function () {};
      this.onFatal = options.onFatal || function () {};
      this.WebSocket = options.WebSocket || root.WebSocket;
      this.setTimeout = options.setTimeout || root.setTimeout.bind(root);
      this.clearTimeout = options.clearTimeout || root.clearTimeout.bind(root);
      this.now = options.now || Date.now;
      this.random = options.random || Math.random;
      this.ws = null;
      this.attempt = 0;
      this.everConnected = false;
      this.stopped = true;
      this.timers = {};
      this.subscribeId = null;
      this.lastFrameAt = 0;
      this.lastError = '';
      this.requests = 0;
      this.status = { state: 'connecting', detail: '', retryAt: null };
    }

    start() {
      if (!this.stopped) return;
      this.stopped = false;
      this.open();
    }

    /** Closes the socket for good: no reconnect, no more callbacks. */
    stop() {
      this.stopped = true;
      this.clearTimers();
      this.detach();
    }

    /** Skips the wait before the next attempt, e.g. when the browser says it is back online. */
    retryNow() {
      if (!this.stopped && this.timers.retry !== undefined) {
        this.clearTimer('retry');
        this.open();
      }
    }

    setStatus(state, detail, retryAt) {
      this.status = { state: state, detail: detail || '', retryAt: retryAt || null };
      this.onStatus(this.status);
    }

    open() {
      this.clearTimers();
      this.setStatus(this.everConnected ? 'reconnecting' : 'connecting', this.lastError);
      let ws;
      try {
        ws = new this.WebSocket(this.url);
      } catch (err) {
        this.lastError = 'cannot open ' + this.url + ': ' + (err && err.message ? err.message : err);
        this.scheduleRetry();
        return;
      }
      this.ws = ws;
      ws.onopen = () => this.subscribe();
      ws.onmessage = (message) => this.receive(message.data);
      ws.onerror = () => {};
      ws.onclose = (close) => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (close && close.code && close.code !== 1000 && close.code !== 1005) {
          this.lastError = 'connection closed (' + close.code + (close.reason ? ': ' + close.reason : '') + ')';
        } else {
          this.lastError = 'connection closed';
        }
        this.clearTimers();
        if (!this.stopped) this.scheduleRetry();
      };
    }

    nextRequestId(kind) {
      this.requests += 1;
      return 'wallboard-' + kind + '-' + this.requests + '-' + Math.floor(this.random() * 1e9).toString(36);
    }

    send(payload) {
      try {
        this.ws.send(JSON.stringify(payload));
        return true;
      } catch (err) {
        this.drop('cannot send: ' + (err && err.message ? err.message : err));
        return false;
      }
    }

    subscribe() {
      this.subscribeId = this.nextRequestId('subscribe');
      this.lastFrameAt = this.now();
      const sent = this.send({
        action: 'subscribe',
        auth_token: this.token,
        request_id: this.subscribeId,
        data: { account_id: this.accountId, binding: BINDING },
      });
      if (!sent) return;
      this.setTimer('reply', REPLY_TIMEOUT_MS, () => this.drop('no reply to subscribe'));
    }

    receive(raw) {
      this.lastFrameAt = this.now();
      if (typeof raw !== 'string') return;
      let message;
      try {
        message = JSON.parse(raw);
      } catch (err) {
        return;
      }
      if (!message || typeof message !== 'object') return;
      if (message.action === 'event') {
        this.onEvent(message);
      } else if (message.action === 'reply' && message.request_id === this.subscribeId) {
        this.subscribed(message);
      }
      // Ping replies only matter as proof of life, which any frame gives.
    }

    subscribed(reply) {
      this.clearTimer('reply');
      this.subscribeId = null;
      if (reply.status === 'success') {
        this.attempt = 0;
        this.everConnected = true;
        this.lastError = '';
        this.setStatus('connected', '');
        this.schedulePing();
        return;
      }
      const message = this.redact(errorText(reply));
      if (isFatal(message)) {
        this.stop();
        this.setStatus('error', message);
        this.onFatal(message);
        return;
      }
      this.drop('server refused the subscription: ' + message);
    }

    schedulePing() {
      this.setTimer('ping', PING_EVERY_MS, () => {
        const sentAt = this.now();
        // The token rides along in case the server does not keep the socket authenticated.
        const sent = this.send({ action: 'ping', auth_token: this.token, request_id: this.nextRequestId('ping') });
        if (!sent) return;
        this.setTimer('pong', PING_TIMEOUT_MS, () => {
          if (this.lastFrameAt < sentAt) this.drop('no reply to ping');
        });
        this.schedulePing();
      });
    }

    /** Gives up on the current socket now, without waiting for a close handshake. */
    drop(reason) {
      this.lastError = reason;
      this.clearTimers();
      this.detach();
      if (!this.stopped) this.scheduleRetry();
    }

    detach() {
      const ws = this.ws;
      this.ws = null;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close();
      } catch (err) {
        // Already closed.
      }
    }

    scheduleRetry() {
      const delay = retryDelay(this.attempt, this.random);
      this.attempt += 1;
      this.setStatus(this.everConnected ? 'reconnecting' : 'connecting', this.lastError, this.now() + delay);
      this.setTimer('retry', delay, () => this.open());
    }

    /** Kazoo quotes the token back in "failed to authenticate token <TOKEN>": keep it off screen. */
    redact(message) {
      return this.token ? message.split(this.token).join('…') : message;
    }

    setTimer(name, ms, fn) {
      this.clearTimer(name);
      this.timers[name] = this.setTimeout(() => {
        delete this.timers[name];
        fn();
      }, ms);
    }

    clearTimer(name) {
      if (this.timers[name] !== undefined) {
        this.clearTimeout(this.timers[name]);
        delete this.timers[name];
      }
    }

    clearTimers() {
      Object.keys(this.timers).forEach((name) => this.clearTimer(name));
    }
  }

  function errorText(reply) {
    const errors = reply && reply.data && reply.data.errors;
    if (Array.isArray(errors) && errors.length) return errors.map(String).join('; ');
    if (reply && reply.data && typeof reply.data.message === 'string') return reply.data.message;
    return 'unknown error';
  }

  root.WallboardLink = {
    Link: Link,
    BINDING: BINDING,
    MAX_RETRY_MS: MAX_RETRY_MS,
    retryDelay: retryDelay,
    socketUrl: socketUrl,
  };
})(globalThis);
