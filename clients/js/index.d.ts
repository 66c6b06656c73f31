// Type declarations of @modelcast/client (src/index.js). docs/client.md is the reference.

/** The types of one model: its records, its create input, its scope names. */
export interface ModelTypes {
  record: object;
  input: object;
  scope: string;
}

/** Any model: what model(name) gives without generated types. */
export interface AnyModel {
  record: { id: number; version: number; created_at: string; updated_at: string; [attribute: string]: unknown };
  input: { [attribute: string]: unknown };
  scope: string;
}

/** A map of model name to its types; modelcast-codegen writes one (`Models`). */
export type ModelMap<M> = { [K in keyof M]: ModelTypes };
type AnyModels = { [name: string]: AnyModel };

/** 'failed': ended for good by a close no reconnect can cure (4003: origin refused); see docs/client.md. */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'failed' | 'closed';
export type TokenReason = 'initial' | 'reconnect' | 'expired';

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** models.json's shape ({models: {Name: {attributes, scopes, order}}}), as modelcast-codegen writes it. */
export interface SchemaLike {
  readonly models: { readonly [name: string]: object } | readonly object[];
}

export interface ConnectOptions {
  /** The edge's origin, e.g. "https://app.example.com"; in a page, location.origin by default. */
  url?: string;
  /** model-api's base URL when there is no edge (default: url). */
  apiUrl?: string;
  /** The pusher's WebSocket URL (default: url with ws(s):// and /ws). */
  wsUrl?: string;
  /** GET /v1/channels (default: apiUrl + "/v1/channels", model-api's; authz answers it alike). */
  channelsUrl?: string;
  /** A JWT for every call; null or absent: anonymous (unless getToken gives one). */
  token?: string | null;
  /** Called for the first token, on every reconnect, and when the server says the token expired. */
  getToken?: (reason: TokenReason) => string | null | undefined | Promise<string | null | undefined>;
  /** Scope conditions and default orders (modelcast-codegen's `schema`); default: GET /v1/models. */
  schema?: SchemaLike;
  /** Reconnect delays: the n-th attempt waits between half and all of min(maxDelayMs, minDelayMs·2^n). */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
  /** Application pings: sent after pingIntervalMs of silence; no answer within pingTimeoutMs → reconnect. */
  ping?: { pingIntervalMs?: number; pingTimeoutMs?: number };
  /**
   * Live queries of a model the caller reads through an instance channel class it may join
   * for any id (GET /v1/models' any_instance, e.g. an admin's every Team) load again this
   * often (default 15000; 0: never), since no subscription carries those changes.
   */
  anyInstancePollMs?: number;
  /** fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** WebSocket to use (default: globalThis.WebSocket; in Node < 22, e.g. the ws package). */
  WebSocket?: WebSocketConstructor;
}

/** The server's error object (docs/rest.md "Errors", docs/protocol.md "Errors"). */
export interface ServerError {
  code: string;
  message: string;
  details?: any;
  channel?: string;
}

/** A refused or failed call; `error` is the server's error object as sent. */
export declare class ModelcastError extends Error {
  /** HTTP status; 0 when the server was not reached; undefined for a WebSocket error frame. */
  status: number | undefined;
  code: string;
  /** For a 422 `invalid`: {attribute: [message, ...]}. */
  details?: any;
  error: ServerError;
  channel?: string;
}

/** A 412 version_mismatch: the record changed since the version sent as If-Match. */
export declare class ConflictError<R = AnyModel['record']> extends ModelcastError {
  /** The record as it is now, or null when it is gone. */
  current: R | null;
  currentVersion: number | null;
}

export declare class ConditionError extends Error {}

/** A pushed change (docs/protocol.md "Server frames"). */
export interface ChangeFrame {
  type: 'change';
  channel: string;
  model: string;
  id: number;
  op: 'create' | 'update' | 'destroy' | 'remove';
  version: number;
  attributes: { [attribute: string]: unknown };
  changed: string[];
  event_id: string;
  position: string;
}

export interface Operators<T> {
  eq?: T;
  ne?: T;
  gt?: T;
  gte?: T;
  lt?: T;
  lte?: T;
  in?: T[];
  null?: boolean;
}

type FilterScalar<T> = T extends string ? string | Date : T;

/** where() filters: a value (eq), null (is null), or operators. */
export type Filters<R> = {
  [K in keyof R]?: FilterScalar<NonNullable<R[K]>> | null | Operators<FilterScalar<NonNullable<R[K]>>>;
};

type Column<R> = Extract<keyof R, string>;
/** An order key: an attribute, '-' before it for descending. */
export type OrderKey<R> = Column<R> | `-${Column<R>}`;

export interface Page<R> {
  data: R[];
  nextCursor: string | null;
}

export interface LiveOptions {
  /** Most records a live collection without limit() loads and keeps (default 10000). */
  maxRecords?: number;
  /** Versions of records outside the collection remembered to ignore late copies (default 50000). */
  maxTracked?: number;
  /** For a model with any_instance classes: load again this often (default: connect's anyInstancePollMs). */
  pollMs?: number;
}

/** A query kept up to date: `records` in the query's order. */
export interface LiveCollection<R> {
  readonly records: R[];
  readonly count: number;
  /** Resolves after the first load; rejects when it fails (e.g. a 400 for the query). */
  readonly ready: Promise<LiveCollection<R>>;
  readonly error: ModelcastError | Error | null;
  close(): void;
}

export interface LiveCount {
  readonly value: number | null;
  readonly ready: Promise<LiveCount>;
  readonly error: ModelcastError | Error | null;
  close(): void;
}

export interface Query<T extends ModelTypes> {
  where(filters: Filters<T['record']>): Query<T>;
  scope(...names: T['scope'][]): Query<T>;
  order(...keys: OrderKey<T['record']>[]): Query<T>;
  limit(n: number): Query<T>;
  page(options?: { cursor?: string | null; size?: number }): Promise<Page<T['record']>>;
  all(): Promise<T['record'][]>;
  first(): Promise<T['record'] | null>;
  count(): Promise<number>;
  live(
    callback?: (records: T['record'][], collection: LiveCollection<T['record']>, reason: 'load' | 'change') => void,
    options?: LiveOptions,
  ): LiveCollection<T['record']>;
  liveCount(callback?: (count: number, live: LiveCount) => void, options?: { pollMs?: number }): LiveCount;
}

type Target = number | { id: number; version?: number };

export interface Model<T extends ModelTypes> extends Query<T> {
  find(id: number): Promise<T['record']>;
  create(attributes: T['input']): Promise<T['record']>;
  /** A record target sends its version as If-Match; a 412 rejects with a ConflictError. */
  update(target: Target, changes: Partial<T['input']>, options?: { version?: number }): Promise<T['record']>;
  destroy(target: Target, options?: { version?: number }): Promise<void>;
}

export interface ModelInfo {
  name: string;
  attributes: { [attribute: string]: { type: string; required: boolean; [constraint: string]: unknown } };
  /** The scopes this caller may use (those over attributes it sees). */
  scopes: string[];
  /** Their conditions (docs/models.md), as the server evaluates them. */
  scope_conditions: { [scope: string]: object };
  /** Instance channel classes through which this caller reads the model for any id. */
  any_instance: string[];
}

/** GET /v1/channels: what to subscribe to, and the classes joinable for any instance id. */
export interface ChannelAccess {
  channels: string[];
  anyInstance: string[];
}

export interface Client<M extends ModelMap<M> = AnyModels> {
  readonly state: ConnectionState;
  model<K extends Extract<keyof M, string>>(name: K): Model<M[K] extends ModelTypes ? M[K] : never>;
  channels(): Promise<string[]>;
  channelAccess(): Promise<ChannelAccess>;
  models(): Promise<ModelInfo[]>;
  on(event: 'state', handler: (state: ConnectionState) => void): () => void;
  on(event: 'error', handler: (error: ModelcastError | Error) => void): () => void;
  on(event: 'change', handler: (frame: ChangeFrame) => void): () => void;
  close(): void;
}

export declare function connect<M extends ModelMap<M> = AnyModels>(options?: ConnectOptions): Client<M>;

export declare function checkCondition(model: { name: string; attributes: object }, condition: unknown, path?: string): object;
export declare function evaluate(model: { name: string; attributes: object }, condition: object, record: object): boolean;
export declare function parseTime(text: string): number | null;
