// User sessions in JavaScript: keyed state and event-time timers for real
// (the same function as functions-examples/sessions-python).
//
// Input: JSON events {"user": "u1", "action": "click", "ts": 1000} keyed by
// user. A session is a user's run of events with gaps shorter than `gap_ms`
// (job parameter, default 30000). Each event extends the current session
// and moves its event-time timer to `last + gap_ms`; when the watermark
// passes that, `onTimer` emits the session and clears its state:
//
//   {"user":"u1","start":1000,"end":9000,"events":3,"actions":{"click":2,"view":1}}

import * as weir from '@weir/sdk';

const { codecs } = weir;

weir.keyedProcess('sessions', { input: codecs.json, output: codecs.json }, class Sessions {
  open(ctx) {
    const gap = ctx.parameter('gap_ms', '30000');
    this.gap = Number(gap);
    if (!Number.isSafeInteger(this.gap)) throw new weir.UserError(`parameter 'gap_ms' must be a number of ms, got '${gap}'`);
    this.start = ctx.valueState('start', codecs.i64);
    this.last = ctx.valueState('last', codecs.i64);
    this.events = ctx.valueState('events', codecs.u64);
    this.actions = ctx.mapState('actions', codecs.string, codecs.u64);
  }

  processElement(event, ctx, out) {
    const { action } = event;
    if (typeof action !== 'string') throw new weir.UserError(`event without an action: ${JSON.stringify(event)}`);
    let ts = ctx.timestamp;
    let last = this.last.get();
    if (last !== null) {
      ctx.deleteEventTimeTimer(last + this.gap);
      if (ts >= last + this.gap) {
        // The watermark has not passed the session's end yet, but this
        // event is past it: the session is over.
        this.emit(ctx, out);
        last = null;
      }
    }
    if (last === null) this.start.set(ts);
    else ts = Math.max(ts, last);
    this.last.set(ts);
    this.events.set(this.events.get(0) + 1);
    this.actions.set(action, this.actions.get(action, 0) + 1);
    ctx.registerEventTimeTimer(ts + this.gap);
  }

  onTimer(timestamp, ctx, out) {
    const last = this.last.get();
    if (last !== null && timestamp === last + this.gap) this.emit(ctx, out);
  }

  /** Emits the key's session and clears it. */
  emit(ctx, out) {
    out.collect({
      user: ctx.keyStr,
      start: this.start.get(),
      end: this.last.get(),
      events: this.events.get(),
      actions: Object.fromEntries(this.actions.entries()),
    });
    for (const s of [this.start, this.last, this.events, this.actions]) s.clear();
  }
});
