// errors.js - what a failed call rejects with: the server's error object, as sent.

/**
 * A refused or failed call. `status` is the HTTP status (0 when the server was not reached;
 * undefined for a WebSocket error frame), `code`, `message` and `details` are the server's
 * (docs/rest.md "Errors", docs/protocol.md), and `error` is its error object as sent:
 * for a 422, `details` maps each attribute to its messages.
 */
export class ModelcastError extends Error {
  constructor(status, error, cause) {
    const e = error && typeof error === 'object' ? error : { code: 'unknown', message: String(error) };
    super(e.message || `modelcast error ${e.code}`);
    this.name = 'ModelcastError';
    this.status = status;
    this.code = e.code || 'unknown';
    this.details = e.details;
    this.error = e;
    if (e.channel !== undefined) this.channel = e.channel;
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * An update or destroy whose If-Match version was no longer current (412 version_mismatch).
 * `current` is the record as it is now (null when it is gone or no longer visible).
 */
export class ConflictError extends ModelcastError {
  constructor(status, error, current) {
    super(status, error);
    this.name = 'ConflictError';
    this.current = current;
    this.currentVersion = current ? current.version : (error?.details?.current_version ?? null);
  }
}
