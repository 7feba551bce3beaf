/** Errors a function throws: the host fails the job with them or, under
 * `on_error = "dead-letter"`, sets the record aside. */

/** The function's own logic failed (bad configuration or input). */
export class UserError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UserError';
    this.kind = 'user';
  }
}

/** A record or state value is not what its codec expects. */
export class DecodeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
    this.kind = 'decode';
  }
}

/** `[kind, message]` for anything a function threw. */
export function describe(e) {
  if (e instanceof UserError || e instanceof DecodeError) return [e.kind, e.message];
  if (e instanceof Error) return ['user', `${e.name}: ${e.message}`];
  return ['user', String(e)];
}
