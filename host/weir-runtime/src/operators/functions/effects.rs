//! What a stage sub-task does with a finished call: an accepted response's
//! effects applied in the protocol's order (messages, delayed messages,
//! egress, state), a resend, or a failure that fails the job or, with
//! `on_error = "dead-letter"`, sets the batch aside. And delayed messages:
//! kept in the sender's keyed state under their token, fired by timers.

use super::FunctionsOp;
use crate::exchange::Stop;
use crate::failure::Failure;
use crate::operators::{Emitter, Rejected};
use weir_core::ErrorDomain;
use weir_core::spec::DEAD_LETTER_OUTPUT;
use weir_statefun::dispatch::{DelayedOp, Expiration, Mutation};
use weir_statefun::stored::{AddressState, Delayed};
use weir_statefun::transport::Done;
use weir_statefun::{Address, Effects, Message, Outcome, records};
use weir_wire::domain::PROCESSING_TIME;

impl FunctionsOp {
    /// Takes a finished call.
    pub(super) fn on_done(
        &mut self,
        d: Done<weir_statefun::Address>,
        out: &mut Emitter<'_>,
    ) -> Result<(), Stop> {
        let a = d.tag;
        let reply = match d.result {
            Ok(r) => r,
            Err(f) => {
                let domain = if f.by_function {
                    ErrorDomain::User
                } else {
                    ErrorDomain::External
                };
                return self.failed(&a, domain, f.to_string(), out);
            }
        };
        match self.dispatcher.on_reply(&a, reply) {
            Err(e) => self.failed(&a, ErrorDomain::User, e.to_string(), out),
            Ok(Outcome::Resend(b)) => {
                self.sizes.remove(&a);
                self.ready.push_front(b);
                Ok(())
            }
            Ok(Outcome::Applied { effects, next }) => {
                let n = self.sizes.remove(&a).unwrap_or(0);
                self.apply(&a, effects, out)?;
                self.stage.quiet.applied(n);
                if let Some(b) = next {
                    self.ready.push_back(b);
                }
                self.release_held(&a);
                Ok(())
            }
        }
    }

    /// A batch that cannot be applied: the job fails, or its messages go
    /// to the dead letters and the address goes on with the next batch.
    fn failed(
        &mut self,
        a: &Address,
        domain: ErrorDomain,
        why: String,
        out: &mut Emitter<'_>,
    ) -> Result<(), Stop> {
        let message = format!("function {a}: {why}");
        let Some(letters) = self.dead_letters.clone() else {
            return Err(Failure { domain, message }.into());
        };
        let Some((failed, next)) = self.dispatcher.abandon(a) else {
            return Err(Failure::internal(format!("{message} (and nothing was in flight)")).into());
        };
        tracing::warn!(address = %a, messages = failed.len(), "dead-lettered: {why}");
        let key = a.to_string();
        let now = self.clock.now_ms();
        for m in &failed {
            let line = records::message_line(&key, &m.argument);
            let r = Rejected {
                ts: now,
                key: key.as_bytes(),
                value: line.as_bytes(),
                timer: false,
            };
            letters.push(out.side(DEAD_LETTER_OUTPUT), "function", &message, &r);
        }
        self.sizes.remove(a);
        self.stage.quiet.applied(failed.len());
        if let Some(b) = next {
            self.ready.push_back(b);
        }
        self.release_held(a);
        Ok(())
    }

    /// Applies an accepted response of `a`.
    fn apply(&mut self, a: &Address, effects: Effects, out: &mut Emitter<'_>) -> Result<(), Stop> {
        let now = self.clock.now_ms();
        for (target, m) in effects.messages {
            self.route(target, m);
        }
        for d in effects.delayed {
            match d {
                DelayedOp::Send {
                    delay_ms,
                    token,
                    target,
                    message,
                } => self.delay(
                    a,
                    now.saturating_add(delay_ms as i64),
                    &token,
                    target,
                    message,
                )?,
                DelayedOp::Cancel { token } => self.cancel(a, &token)?,
            }
        }
        for e in effects.egress {
            let id = format!("{}/{}", e.namespace, e.name);
            if !self.egresses.contains(&id) {
                let mut known: Vec<&str> = self.egresses.iter().map(String::as_str).collect();
                known.sort_unstable();
                return Err(Failure::user(format!(
                    "{a} sent a message to egress '{id}', which nothing in this job reads (egresses read: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ))
                .into());
            }
            let line = records::egress_line(&id, &e.argument);
            out.side(&id).push(now, a.id.as_bytes(), line.as_bytes());
        }
        let after_invoke = self
            .dispatcher
            .states(&a.function)
            .any(|s| matches!(s.expiration, Expiration::AfterInvokeMs(_)));
        if !effects.mutations.is_empty() || after_invoke {
            let mut st = self.load(a)?;
            for m in effects.mutations {
                match m {
                    Mutation::Modify(name, v) => st.set(&name, &v, now),
                    Mutation::Delete(name) => st.delete(&name),
                }
            }
            st.invoked(now);
            st.expire(self.dispatcher.states(&a.function), now);
            self.store(a, &st)?;
        }
        out.pass_on_if_full()
    }

    fn store(&mut self, a: &Address, st: &AddressState) -> Result<(), Failure> {
        let key = a.to_string();
        let kg = self.key_group(a);
        if st.is_empty() {
            self.backend.value_delete(kg, self.values, key.as_bytes())?;
        } else {
            self.backend
                .value_put(kg, self.values, key.as_bytes(), &st.encode())?;
        }
        Ok(())
    }

    /// Keeps a delayed message in its sender's state until `due_ms`.
    fn delay(
        &mut self,
        sender: &Address,
        due_ms: i64,
        token: &str,
        target: Address,
        message: Message,
    ) -> Result<(), Failure> {
        let user_key = if token.is_empty() {
            self.sequence += 1;
            let mut k = b"#".to_vec();
            k.extend_from_slice(&due_ms.to_be_bytes());
            k.extend_from_slice(&self.subtask.to_be_bytes());
            k.extend_from_slice(&self.sequence.to_be_bytes());
            k
        } else {
            token_key(token)
        };
        let d = Delayed {
            due_ms,
            target,
            message,
        };
        let key = sender.to_string();
        let kg = self.key_group(sender);
        self.backend
            .map_put(kg, self.delayed, key.as_bytes(), &user_key, &d.encode())?;
        self.timers
            .register(PROCESSING_TIME, due_ms, kg, key.as_bytes());
        self.note_timers();
        Ok(())
    }

    /// Cancels `sender`'s pending delayed message with `token`, if any,
    /// and its timer unless another message of the sender is due then.
    fn cancel(&mut self, sender: &Address, token: &str) -> Result<(), Failure> {
        let key = sender.to_string();
        let kg = self.key_group(sender);
        let user_key = token_key(token);
        let Some(bytes) = self
            .backend
            .map_get(kg, self.delayed, key.as_bytes(), &user_key)?
        else {
            return Ok(());
        };
        let due = Delayed::decode(&bytes)
            .map_err(|e| Failure::internal(e.to_string()))?
            .due_ms;
        self.backend
            .map_remove(kg, self.delayed, key.as_bytes(), &user_key)?;
        let mut shared = false;
        for (_, other) in self.backend.map_entries(kg, self.delayed, key.as_bytes())? {
            let d = Delayed::decode(&other).map_err(|e| Failure::internal(e.to_string()))?;
            shared |= d.due_ms == due;
        }
        if !shared {
            self.timers.delete(PROCESSING_TIME, due, kg, key.as_bytes());
            self.note_timers();
        }
        Ok(())
    }

    /// Sends the delayed messages due at `now`.
    pub(super) fn fire_delayed(&mut self, now: i64) -> Result<(), Failure> {
        let due = self.timers.pop_due(PROCESSING_TIME, now, usize::MAX);
        for (_, kg, key) in due {
            let entries = self.backend.map_entries(kg, self.delayed, &key)?;
            for (user_key, bytes) in entries {
                let d = Delayed::decode(&bytes).map_err(|e| Failure::internal(e.to_string()))?;
                if d.due_ms > now {
                    continue;
                }
                self.backend.map_remove(kg, self.delayed, &key, &user_key)?;
                self.route(d.target, d.message);
            }
        }
        self.note_timers();
        Ok(())
    }
}

/// The map key of a delayed message with a cancellation token.
fn token_key(token: &str) -> Vec<u8> {
    let mut k = b"t".to_vec();
    k.extend_from_slice(token.as_bytes());
    k
}
