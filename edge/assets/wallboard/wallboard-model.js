/*
 * Wallboard model: what the board knows about one account's calls, built only from the Kazoo
 * call events this page receives. No DOM here, so the test suite can drive it under node.
 *
 * Times: every method takes `now`, the browser clock in ms. Durations are measured with it
 * because the browser and the switch clocks may disagree; an event's own `timestamp`
 * (Gregorian seconds) is only used to order events.
 */
(function (root) {
  'use strict';

  /** Seconds from 0000-01-01 (Erlang's calendar, which Kazoo counts from) to 1970-01-01. */
  const GREGORIAN_OFFSET = 62167219200;
  /** The counters' rolling window. */
  const WINDOW_MS = 60 * 60 * 1000;
  const FEED_MAX = 50;
  /**
   * Calls seen before the link dropped may have ended while it was down: Kazoo sends no
   * snapshot, so they are flagged, and dropped if nothing more is heard of them in this time.
   */
  const STALE_TTL_MS = 10 * 60 * 1000;
  /** A call silent this long lost its CHANNEL_DESTROY somewhere; keeps the board from filling. */
  const SILENT_TTL_MS = 4 * 60 * 60 * 1000;
  /** Late events of a call already hung up must not bring it back as a phantom row. */
  const ENDED_TTL_MS = 2 * 60 * 1000;
  const DEDUPE_MAX = 1000;

  const STATE_EVENTS = new Set([
    'CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_BRIDGE', 'CHANNEL_HOLD', 'CHANNEL_UNHOLD',
  ]);

  const LABELS = {
    CHANNEL_CREATE: 'New call',
    CHANNEL_ANSWER: 'Answered',
    CHANNEL_BRIDGE: 'Connected',
    CHANNEL_HOLD: 'On hold',
    CHANNEL_UNHOLD: 'Off hold',
    CHANNEL_DESTROY: 'Hung up',
    PARK_PARKED: 'Parked',
    PARK_RETRIEVED: 'Retrieved',
    PARK_ABANDONED: 'Park abandoned',
  };

  const CAUSES = {
    NORMAL_CLEARING: 'ended',
    ORIGINATOR_CANCEL: 'abandoned',
    NO_ANSWER: 'no answer',
    USER_BUSY: 'busy',
    CALL_REJECTED: 'rejected',
    NO_USER_RESPONSE: 'no response',
    UNALLOCATED_NUMBER: 'bad number',
  };

  function text(value) {
    if (typeof value === 'string') return value.trim();
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    return '';
  }

  /** An event's `timestamp` as unix ms, or null. Kazoo sends Gregorian seconds. */
  function eventTimeMs(timestamp) {
    const seconds = Number(timestamp);
    if (!Number.isFinite(seconds) || seconds <= 0) return null;
    if (seconds > GREGORIAN_OFFSET) return (seconds - GREGORIAN_OFFSET) * 1000;
    // Tolerates a producer that already converted to unix seconds.
    if (seconds > 1e9 && seconds < 1e11) return seconds * 1000;
    return null;
  }

  function accountOf(data) {
    const ccv = data.custom_channel_vars;
    const id = (ccv && typeof ccv === 'object' && text(ccv.account_id)) || text(data.account_id);
    return id.toLowerCase();
  }

  function eventLabel(name) {
    return LABELS[name] || name.replace(/_/g, ' ').toLowerCase();
  }

  function causeLabel(cause) {
    return cause ? CAUSES[cause] || cause.replace(/_/g, ' ').toLowerCase() : '';
  }

  function mean(values) {
    if (values.length === 0) return null;
    return values.reduce((a, b) => a + b, 0) / values.length;
  }

  class Board {
    /** `accountId`: events naming another account are dropped, whatever the server sends. */
    constructor(accountId, now) {
      this.accountId = (accountId || '').toLowerCase();
      this.accountName = '';
      this.since = now;
      /** Active calls by the id of their first leg seen. */
      this.calls = new Map();
      /** Other legs of active calls: leg id → first leg's id. */
      this.legs = new Map();
      /** Recently hung-up call and leg ids → when. */
      this.ended = new Map();
      /** What the counters count: {at, kind: created|answered|missed|ended, callId, ms}. */
      this.facts = [];
      /** Newest first. */
      this.feed = [];
      this.seq = 0;
      this.dedupe = new Set();
      this.dedupeOrder = [];
    }

    /**
     * Applies one frame from the websocket. Returns true when it changed anything shown.
     * Anything that is not a call event of this account is ignored.
     */
    apply(envelope, now) {
      if (!envelope || envelope.action !== 'event') return false;
      const data = envelope.data;
      if (!data || typeof data !== 'object') return false;
      const name = text(envelope.name) || text(data.event_name);
      if (!/^(CHANNEL|PARK)_[A-Z_]+$/.test(name)) return false;
      const account = accountOf(data);
      if (account && this.accountId && account !== this.accountId) return false;
      const callId = text(data.call_id);
      if (!callId) return false;
      if (this.isDuplicate(text(data.msg_id), name, callId)) return false;
      if (!this.accountName && data.custom_channel_vars) {
        this.accountName = text(data.custom_channel_vars.account_name);
      }
      const ts = eventTimeMs(data.timestamp);
      this.addToFeed(name, data, callId, ts, now);
      this.applyToCall(name, data, callId, ts, now);
      return true;
    }

    isDuplicate(msgId, name, callId) {
      // Overlapping subscriptions deliver an event once per subscription.
      if (!msgId) return false;
      const key = msgId + ' ' + name + ' ' + callId;
      if (this.dedupe.has(key)) return true;
      this.dedupe.add(key);
      this.dedupeOrder.push(key);
      if (this.dedupeOrder.length > DEDUPE_MAX) this.dedupe.delete(this.dedupeOrder.shift());
      return false;
    }

    addToFeed(name, data, callId, ts, now) {
      const entry = {
        seq: ++this.seq,
        name: name,
        label: eventLabel(name),
        at: now,
        ts: ts,
        callId: callId,
        direction: text(data.call_direction),
        caller: party(data.caller_id_name, data.caller_id_number),
        callee: party(data.callee_id_name, data.callee_id_number),
        cause: name === 'CHANNEL_DESTROY' ? causeLabel(text(data.hangup_cause)) : '',
      };
      // Ordered by event time, so an event that arrives late still lands where it happened.
      const when = (e) => (e.ts === null ? e.at : e.ts);
      let i = 0;
      while (i < this.feed.length && when(this.feed[i]) > when(entry)) i++;
      this.feed.splice(i, 0, entry);
      if (this.feed.length > FEED_MAX) this.feed.length = FEED_MAX;
    }

    /** The id under which the call owning leg `id` is shown, if it is. */
    primaryOf(id) {
      if (!id) return null;
      if (this.calls.has(id)) return id;
      return this.legs.get(id) || null;
    }

    applyToCall(name, data, callId, ts, now) {
      const other = text(data.other_leg_call_id);
      const known = this.calls.get(callId);
      if (name === 'CHANNEL_CREATE' && known && known.stale) {
        // Its end was lost while the link was down, and the id now names a new call.
        this.calls.delete(callId);
        this.detachLegs(callId, now);
      }
      let id = this.primaryOf(callId);
      if (!id) {
        // A second leg of a call already on the board (Kazoo publishes both legs of a call
        // between two of the account's phones): one call, one row, counted once.
        const joined = this.primaryOf(other);
        if (joined && !this.ended.has(callId)) {
          this.legs.set(callId, joined);
          id = joined;
        }
      } else if (other && other !== id && this.calls.has(other)) {
        // Both legs arrived before anything linked them: fold them into the older one.
        id = this.merge(id, other);
      }
      const isLeg = id !== null && id !== callId;

      if (name === 'CHANNEL_DESTROY') {
        if (isLeg) {
          this.legs.delete(callId);
          this.ended.set(callId, now);
        } else if (id) {
          this.hangUp(this.calls.get(id), now);
        } else {
          this.ended.set(callId, now);
        }
        return;
      }
      if (!STATE_EVENTS.has(name)) return;
      if (!id) {
        if (this.ended.has(callId)) return;
        id = callId;
        this.calls.set(id, newCall(id, name === 'CHANNEL_CREATE', now));
        if (name === 'CHANNEL_CREATE') this.fact('created', id, now, 0);
      }
      const call = this.calls.get(id);
      call.lastSeen = now;
      call.stale = false;
      if (!isLeg) describe(call, data);
      else if (!call.calleeName && !call.calleeNumber) {
        call.calleeName = text(data.callee_id_name);
        call.calleeNumber = text(data.callee_id_number);
      }
      call.version++;
      // Whole-second timestamps cannot order two events of the same second: only an event
      // strictly older than the last one applied is out of order.
      const answers = name === 'CHANNEL_ANSWER' || name === 'CHANNEL_BRIDGE';
      if (ts !== null && call.lastTs !== null && ts < call.lastTs) {
        // Too late to set the state, but whatever it says about the answer still holds.
        if (name !== 'CHANNEL_CREATE' && call.state === 'ringing') {
          this.answer(call, now, answers);
          call.state = 'answered';
        }
        return;
      }
      if (ts !== null) call.lastTs = ts;
      switch (name) {
        case 'CHANNEL_ANSWER':
        case 'CHANNEL_BRIDGE':
          this.answer(call, now, true);
          if (call.state === 'ringing') call.state = 'answered';
          break;
        case 'CHANNEL_HOLD':
          this.answer(call, now, false);
          if (call.state !== 'on-hold') call.heldAt = now;
          call.state = 'on-hold';
          break;
        case 'CHANNEL_UNHOLD':
          this.answer(call, now, false);
          call.state = 'answered';
          call.heldAt = null;
          break;
        default:
          break;
      }
    }

    /** `seen`: this event is the answer itself, not a later one implying it happened. */
    answer(call, now, seen) {
      if (call.answeredAt !== null) return;
      call.answeredAt = now;
      call.answeredExact = seen;
      if (call.counted && call.answeredExact) {
        this.fact('answered', call.id, now, now - call.createdAt);
      }
    }

    hangUp(call, now) {
      if (call.counted) {
        if (call.answeredAt === null) this.fact('missed', call.id, now, now - call.createdAt);
        else if (call.answeredExact) this.fact('ended', call.id, now, now - call.answeredAt);
      }
      this.forget(call.id, now);
    }

    forget(id, now) {
      this.calls.delete(id);
      this.ended.set(id, now);
      this.detachLegs(id, now);
    }

    detachLegs(id, now) {
      for (const [leg, primary] of this.legs) {
        if (primary === id) {
          this.legs.delete(leg);
          this.ended.set(leg, now);
        }
      }
    }

    /** Folds calls `a` and `b` (two legs) into whichever was seen first; returns its id. */
    merge(a, b) {
      const ca = this.calls.get(a);
      const cb = this.calls.get(b);
      const [keep, drop] = ca.firstSeen <= cb.firstSeen ? [ca, cb] : [cb, ca];
      this.calls.delete(drop.id);
      this.legs.set(drop.id, keep.id);
      for (const [leg, primary] of this.legs) {
        if (primary === drop.id) this.legs.set(leg, keep.id);
      }
      this.facts = this.facts.filter((f) => f.callId !== drop.id);
      if (keep.answeredAt === null && drop.answeredAt !== null) {
        keep.answeredAt = drop.answeredAt;
        keep.answeredExact = false;
        if (keep.state === 'ringing') keep.state = drop.state;
      }
      keep.version++;
      return keep.id;
    }

    fact(kind, callId, at, ms) {
      this.facts.push({ kind: kind, callId: callId, at: at, ms: Math.max(0, ms) });
    }

    /** The link dropped: calls on the board may have ended unseen. */
    markStale(now) {
      for (const call of this.calls.values()) {
        if (!call.stale) {
          call.stale = true;
          call.staleSince = now;
          call.version++;
        }
      }
    }

    /** Expires old counter facts and calls nothing has been heard of. Returns true if any. */
    prune(now) {
      let changed = false;
      const horizon = now - WINDOW_MS;
      if (this.facts.length && this.facts[0].at < horizon) {
        this.facts = this.facts.filter((f) => f.at >= horizon);
        changed = true;
      }
      for (const call of Array.from(this.calls.values())) {
        const staleOut = call.stale && now - call.staleSince > STALE_TTL_MS;
        if (staleOut || now - call.lastSeen > SILENT_TTL_MS) {
          this.forget(call.id, now);
          changed = true;
        }
      }
      for (const [id, at] of this.ended) {
        if (now - at > ENDED_TTL_MS) this.ended.delete(id);
      }
      return changed;
    }

    /** The rolling last-hour counters; averages in ms, null when there is nothing to average. */
    counters(now) {
      const horizon = now - WINDOW_MS;
      const recent = this.facts.filter((f) => f.at >= horizon && f.at <= now);
      const of = (kind) => recent.filter((f) => f.kind === kind);
      const answered = of('answered');
      return {
        calls: of('created').length,
        answered: answered.length,
        missed: of('missed').length,
        avgWaitMs: mean(answered.map((f) => f.ms)),
        avgTalkMs: mean(of('ended').map((f) => f.ms)),
      };
    }

    /**
     * Active calls in board order: ringing first (longest waiting on top), then on hold, then
     * talking, each oldest first.
     */
    activeCalls() {
      const rank = { ringing: 0, 'on-hold': 1, answered: 2 };
      return Array.from(this.calls.values()).sort(
        (a, b) => rank[a.state] - rank[b.state] || start(a) - start(b) || (a.id < b.id ? -1 : 1),
      );
    }
  }

  function start(call) {
    return call.createdAt === null ? call.firstSeen : call.createdAt;
  }

  function newCall(id, created, now) {
    return {
      id: id,
      state: 'ringing',
      direction: '',
      callerName: '',
      callerNumber: '',
      calleeName: '',
      calleeNumber: '',
      // Null when the call was already up before this page saw it.
      createdAt: created ? now : null,
      firstSeen: now,
      answeredAt: null,
      // False when the answer happened before the page saw the call: talk time is a minimum.
      answeredExact: false,
      heldAt: null,
      lastSeen: now,
      lastTs: null,
      // Only calls seen from their CHANNEL_CREATE count: the others' wait is unknown.
      counted: created,
      stale: false,
      staleSince: 0,
      version: 0,
    };
  }

  /** Caller and callee ids change during a call (the agent's name appears on answer). */
  function describe(call, data) {
    const set = (key, value) => {
      const v = text(value);
      if (v) call[key] = v;
    };
    set('direction', data.call_direction);
    set('callerName', data.caller_id_name);
    set('callerNumber', data.caller_id_number);
    set('calleeName', data.callee_id_name);
    set('calleeNumber', data.callee_id_number);
  }

  function party(name, number) {
    return { name: text(name), number: text(number) };
  }

  /** Call timings for display, in ms; `exact` false means "at least". */
  function timings(call, now) {
    const since = start(call);
    const startExact = call.createdAt !== null;
    if (call.answeredAt === null) {
      return { wait: now - since, waitExact: startExact, talk: null, talkExact: true, hold: null };
    }
    return {
      wait: call.answeredExact && startExact ? call.answeredAt - call.createdAt : null,
      waitExact: true,
      talk: now - call.answeredAt,
      talkExact: call.answeredExact,
      hold: call.heldAt === null ? null : now - call.heldAt,
    };
  }

  /** `m:ss`, or `h:mm:ss` past an hour. */
  function formatDuration(ms) {
    if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, '0');
    return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + s : m + ':' + s;
  }

  root.WallboardModel = {
    Board: Board,
    GREGORIAN_OFFSET: GREGORIAN_OFFSET,
    WINDOW_MS: WINDOW_MS,
    FEED_MAX: FEED_MAX,
    STALE_TTL_MS: STALE_TTL_MS,
    eventTimeMs: eventTimeMs,
    formatDuration: formatDuration,
    timings: timings,
  };
})(globalThis);
