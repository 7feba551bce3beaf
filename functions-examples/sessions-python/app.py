"""User sessions in Python: keyed state and event-time timers for real.

Input: JSON events ``{"user": "u1", "action": "click", "ts": 1000}`` keyed by
user. A session is a user's run of events with gaps shorter than ``gap_ms``
(job parameter, default 30000). Each event extends the current session and
moves its event-time timer to ``last + gap_ms``; when the watermark passes
that, ``on_timer`` emits the session and clears its state::

    {"user": "u1", "start": 1000, "end": 9000, "events": 3, "actions": {"click": 2, "view": 1}}
"""

import weir
from weir import codecs


@weir.keyed_process("sessions", input=codecs.JSON, output=codecs.JSON)
class Sessions:
    def open(self, ctx):
        gap = ctx.parameter("gap_ms", "30000")
        try:
            self.gap = int(gap)
        except ValueError:
            raise weir.UserError(f"parameter 'gap_ms' must be a number of ms, got '{gap}'") from None
        self.start = ctx.value_state("start", codecs.I64)
        self.last = ctx.value_state("last", codecs.I64)
        self.events = ctx.value_state("events", codecs.U64)
        self.actions = ctx.map_state("actions", codecs.STRING, codecs.U64)

    def process_element(self, event, ctx, out):
        action = event.get("action")
        if not isinstance(action, str):
            raise weir.UserError(f"event without an action: {event}")
        ts = ctx.timestamp
        last = self.last.get()
        if last is not None:
            ctx.delete_event_time_timer(last + self.gap)
            if ts >= last + self.gap:
                # The watermark has not passed the session's end yet, but
                # this event is past it: the session is over.
                self.emit(ctx, out)
                last = None
        if last is None:
            self.start.set(ts)
        else:
            ts = max(ts, last)
        self.last.set(ts)
        self.events.set(self.events.get(0) + 1)
        self.actions.put(action, self.actions.get(action, 0) + 1)
        ctx.register_event_time_timer(ts + self.gap)

    def on_timer(self, timestamp, ctx, out):
        last = self.last.get()
        if last is not None and timestamp == last + self.gap:
            self.emit(ctx, out)

    def emit(self, ctx, out):
        """Emits the key's session and clears it."""
        out.collect(
            {
                "user": ctx.key_str,
                "start": self.start.get(),
                "end": self.last.get(),
                "events": self.events.get(),
                "actions": dict(self.actions.items()),
            }
        )
        for state in (self.start, self.last, self.events, self.actions):
            state.clear()
