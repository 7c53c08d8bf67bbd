// chatcore.d.ts: the TypeScript types of chatcore.js (wire protocol v1, docs/protocol.md).
//
// chatcore.js stays plain JavaScript with no build step; this file sits beside it so that a
// TypeScript project importing "./chatcore.js" (or mapping a name to it) gets checked calls,
// events and replies. Field names are the wire's (snake_case), as the client passes frames on.

/** A request's reference: the client numbers its requests itself. */
export type Ref = string | number;

/** A JSON object of the application's, stored with a message (at most 2,048 bytes). */
export type Meta = Record<string, unknown>;

/** A user, as the server's authentication and user directory give it. */
export interface User {
  id: string;
  name: string;
  avatar: string | null;
}

/** A room; `read` and `unread` are set by `rooms()` on the rooms the user belongs to. */
export interface Room {
  name: string;
  title: string;
  owner: string | null;
  /** Users present in the room now. */
  members: number;
  kind: "group" | "direct";
  /** Seen by its owner and invited users only. */
  private: boolean;
  /** A direct room's two user ids. */
  users?: string[];
  /** The user's read mark: the id of the last message read. */
  read?: number;
  /** Messages after the mark that others posted (at most 100: show "100+"). */
  unread?: number;
}

/** The reactions to a message under one emoji. */
export interface Reaction {
  count: number;
  /** The first 25 users' ids, in the order they reacted. */
  users: string[];
}

/** A room message, in its current state. */
export interface Message {
  /** Grows by one per room, from 1. */
  id: number;
  room: string;
  /** Milliseconds since the epoch. */
  ts: number;
  from: User;
  /** `""` when deleted. */
  text: string;
  /** The id of the message this one answers. */
  reply_to?: number;
  meta?: Meta;
  /** When last edited (ms). */
  edited?: number;
  deleted?: true;
  /** Emoji (or `:shortcode:`) to its reactions, in the order first used. */
  reactions?: Record<string, Reaction>;
}

/** The numbers that apply to the connection, from `welcome`. */
export interface Limits {
  max_frame: number;
  max_text: number;
  rate: number;
  burst: number;
  history_page: number;
  typing_interval: number;
}

/** The wire's error codes. */
export type ServerErrorCode =
  | "bad_frame"
  | "unknown_type"
  | "invalid_field"
  | "too_large"
  | "rate_limited"
  | "no_such_room"
  | "no_such_message"
  | "room_exists"
  | "not_member"
  | "forbidden"
  | "no_such_user"
  | "recipient_unavailable"
  | "unavailable"
  | "internal"
  | "quota_exceeded"
  | "banned"
  | "muted"
  | "rejected";

/** The client's own error codes: no reply in time, the socket lost, `close()` called. */
export type ClientErrorCode = "timeout" | "connection_lost" | "closed";

/** Any error code; codes added by later servers are strings too. */
export type ErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

// Server frames

export interface OkFrame {
  type: "ok";
  ref: Ref;
}

export interface ErrorFrame {
  type: "error";
  /** Absent when the server could not read the frame's `ref`. */
  ref?: Ref;
  code: ServerErrorCode | (string & {});
  message: string;
  /** The offending field, when there is one. */
  field?: string;
  /** With `rejected`: the application's code for the rule (such as "spam"), when it gave one. */
  reason?: string;
}

export interface WelcomeFrame {
  type: "welcome";
  user: User;
  protocol: 1;
  limits: Limits;
}

export interface MessageFrame extends Message {
  type: "message";
}

export interface MessageChangedFrame {
  type: "message_changed";
  change: "edited" | "deleted" | "reactions";
  /** The message's whole new state: replace what is shown for (room, id). */
  message: Message;
}

export interface ReadFrame {
  type: "read";
  room: string;
  /** Whose mark moved (a user id). */
  user: string;
  id: number;
}

export interface PrivateFrame {
  type: "private";
  /** A random integer below 2^52. */
  id: number;
  ts: number;
  from: User;
  to: User;
  text: string;
  /** The context room, when given. */
  room?: string;
}

export interface PresenceFrame {
  type: "presence";
  room: string;
  event: "join" | "leave" | "update";
  user: User;
}

/** A large room's count of present members (instead of per-user `presence`). */
export interface OccupancyFrame {
  type: "occupancy";
  room: string;
  count: number;
}

/** A watched user came online or went offline (`watchUsers`). */
export interface StatusFrame {
  type: "status";
  user: string;
  online: boolean;
}

/** A page of a room's members, by name. */
export interface MembersPage {
  members: User[];
  count: number;
  next: string | null;
}

export interface TypingFrame {
  type: "typing";
  room: string;
  user: User;
}

export interface RoomFrame {
  type: "room";
  event: "created" | "updated" | "deleted";
  room: Room;
}

/** You were put out of `room` (kicked or banned) by user `by`. */
export interface KickedFrame {
  type: "kicked";
  room: string;
  by: string;
  reason?: string;
}

export type ModerationAction = "kick" | "ban" | "unban" | "mute" | "unmute" | "set_role" | "invite";

/** A moderation action: for the room's owner and moderators, and the user concerned. */
export interface ModerationFrame {
  type: "moderation";
  room: string;
  action: ModerationAction;
  user: string;
  by: string;
  /** When a ban or mute ends (ms since the epoch); absent: never. */
  until?: number;
  reason?: string;
  /** For `set_role`. */
  role?: "moderator" | "member";
}

/** One entry of a room's moderation log. */
export interface AuditEntry {
  id: number;
  room: string;
  action: ModerationAction;
  user: string;
  by: string;
  ts: number;
  until?: number;
  reason?: string;
  role?: "moderator" | "member";
}

/** A frame of a type this version of the types does not name. */
export interface OtherFrame {
  type: string;
  [field: string]: unknown;
}

// The client's own events

/**
 * An `error` event: an `error` frame without a `ref`, or a room that could not be rejoined after
 * a reconnect (then `room` names it, and the frame may be one of the client's own errors).
 */
export interface ChatErrorEvent {
  type?: "error";
  ref?: Ref;
  code?: ErrorCode;
  message?: string;
  field?: string | null;
  room?: string;
}

export interface OpenEvent {
  user: User;
  /** False for the first socket; true when rooms were rejoined after a reconnect. */
  reconnect: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
  willReconnect: boolean;
}

export interface ReconnectingEvent {
  /** 1 for the first attempt after a socket ends. */
  attempt: number;
  /** Milliseconds until the attempt. */
  delay: number;
}

export interface GapEvent {
  room: string;
}

export interface RejoinedEvent {
  room: string;
  read: number;
  /** The other user's read mark, in a direct room. */
  seen?: number;
  members: User[];
  /** Users present; in a large room `members` is the first page and `next` its cursor. */
  count: number;
  next: string | null;
}

/** The payload of each event `on()` subscribes to. */
export interface ChatEvents {
  welcome: WelcomeFrame;
  message: MessageFrame;
  message_changed: MessageChangedFrame;
  read: ReadFrame;
  private: PrivateFrame;
  presence: PresenceFrame;
  typing: TypingFrame;
  room: RoomFrame;
  kicked: KickedFrame;
  moderation: ModerationFrame;
  occupancy: OccupancyFrame;
  status: StatusFrame;
  error: ChatErrorEvent;
  open: OpenEvent;
  close: CloseInfo;
  reconnecting: ReconnectingEvent;
  gap: GapEvent;
  rejoined: RejoinedEvent;
}

// Requests

/** `join`'s result. */
export interface JoinResult {
  room: Room;
  members: User[];
  history: Message[];
  /** Not every message after `since` could be given. */
  gap: boolean;
  read: number;
  /** The other user's read mark, in a direct room. */
  seen?: number;
  /** Your rank in the room: who may moderate. */
  role: "owner" | "staff" | "moderator" | "member";
  /** The room's moderators' ids. */
  moderators: string[];
  /** Users present; in a large room `members` is the first page and `next` its cursor. */
  count: number;
  next: string | null;
}

export interface HistoryResult {
  /** Oldest first. */
  messages: Message[];
  /** Older messages exist. */
  more: boolean;
}

type Empty = Record<never, never>;

/** Each command's fields (as on the wire, without `type` and `ref`) and `ok` result. */
export interface Commands {
  join: { fields: { room: string; since?: number | undefined }; result: JoinResult };
  leave: { fields: { room: string }; result: Empty };
  send: {
    fields: {
      room: string;
      text: string;
      client_id?: string | undefined;
      reply_to?: number | undefined;
      meta?: Meta | undefined;
    };
    result: { id: number };
  };
  edit: {
    fields: { room: string; id: number; text: string; meta?: Meta | undefined };
    result: { message: Message };
  };
  delete_message: { fields: { room: string; id: number }; result: Empty };
  react: { fields: { room: string; id: number; emoji: string }; result: Empty };
  unreact: { fields: { room: string; id: number; emoji: string }; result: Empty };
  read: { fields: { room: string; id: number }; result: { room: string; id: number } };
  send_private: {
    fields: { to: string; text: string; room?: string | undefined };
    result: { id: number };
  };
  typing: { fields: { room: string }; result: Empty };
  rooms: {
    fields: { watch?: boolean | undefined; unread?: boolean | undefined };
    result: { rooms: Room[] };
  };
  create_room: {
    fields: { room: string; title?: string | undefined; private?: boolean | undefined };
    result: { room: Room };
  };
  update_room: {
    fields: { room: string; title?: string | undefined; private?: boolean | undefined };
    result: { room: Room };
  };
  delete_room: { fields: { room: string }; result: Empty };
  direct: { fields: { to: string }; result: { room: Room } };
  members: {
    fields: {
      room: string;
      after?: string | undefined;
      limit?: number | undefined;
      query?: string | undefined;
    };
    result: MembersPage;
  };
  watch_users: { fields: { users: string[] }; result: { online: string[] } };
  history: {
    fields: { room: string; before?: number | undefined; limit?: number | undefined };
    result: HistoryResult;
  };
  ping: { fields: Empty; result: Empty };
  set_role: { fields: { room: string; user: string; role: "moderator" | "member" }; result: Empty };
  kick: { fields: { room: string; user: string; reason?: string | undefined }; result: Empty };
  ban: { fields: Sanction; result: Empty };
  unban: { fields: { room: string; user: string }; result: Empty };
  mute: { fields: Sanction; result: Empty };
  unmute: { fields: { room: string; user: string }; result: Empty };
  invite: { fields: { room: string; user: string }; result: Empty };
  audit: {
    fields: { room: string; before?: number | undefined; limit?: number | undefined };
    result: { entries: AuditEntry[]; more: boolean };
  };
  block: { fields: { user: string }; result: { blocked: string[] } };
  unblock: { fields: { user: string }; result: { blocked: string[] } };
  blocks: { fields: Empty; result: { blocked: string[] } };
}

/** The fields of `ban` and `mute`. */
interface Sanction {
  room: string;
  user: string;
  /** When it ends, in ms since the epoch; absent: never. */
  until?: number | undefined;
  reason?: string | undefined;
}

/** The `ok` frame answering command `K`. */
export type Reply<K extends string> = OkFrame &
  (K extends keyof Commands ? Commands[K]["result"] : { [field: string]: unknown });

/** The arguments after the command name in `request(type, ...)`. */
export type RequestFields<K extends string> = K extends keyof Commands
  ? Empty extends Commands[K]["fields"]
    ? [fields?: Commands[K]["fields"]]
    : [fields: Commands[K]["fields"]]
  : [fields?: { [field: string]: unknown }];

/** An error reply from the server, or one of the client's own errors. */
export declare class ChatError extends Error {
  constructor(frame: { code: ErrorCode; message?: string; field?: string | null; [key: string]: unknown });
  name: "ChatError";
  /** The wire's error code, or `timeout`, `connection_lost`, `closed` for the client's own. */
  code: ErrorCode;
  field: string | null;
  /** The application's code for a `rejected` message (its hooks refused it), or null. */
  reason: string | null;
  /** The `error` frame (`type: "error"`), or `{code, message}` for the client's own errors. */
  frame: ErrorFrame | { type?: undefined; code: ClientErrorCode; message: string };
}

export interface Backoff {
  /** Milliseconds before the first attempt's jitter (default 250). */
  initial: number;
  /** Growth per attempt (default 2). */
  factor: number;
  /** The ceiling in milliseconds (default 10000). */
  maximum: number;
}

export interface ChatClientOptions {
  /** A `ws:`/`wss:` URL, an `http(s):` URL or a path such as `"/ws"` (default). */
  url?: string | undefined;
  /** Reconnect after a lost socket (default true). */
  reconnect?: boolean | undefined;
  backoff?: Partial<Backoff> | undefined;
  /** Milliseconds a request waits for its reply (default 15000). */
  timeout?: number | undefined;
}

export type ClientState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export declare class ChatClient {
  constructor(options?: ChatClientOptions);
  /** The socket's URL, resolved against the page. */
  readonly url: string;
  reconnect: boolean;
  backoff: Backoff;
  timeout: number;
  /** The user from the last `welcome`; null before the first. */
  user: User | null;
  state: ClientState;

  /** Call `fn(event)` for each event of `type`; returns a function that unsubscribes. */
  on<K extends keyof ChatEvents>(type: K, fn: (event: ChatEvents[K]) => void): () => void;
  on(type: string, fn: (event: OtherFrame) => void): () => void;

  /** Open the socket; resolves once the first socket is open (after `welcome`). */
  connect(): Promise<void>;
  /** Close with 1000 and stop reconnecting; pending requests fail with `closed`. */
  close(): void;

  /** Send any command; resolves with its `ok` frame, rejects with a `ChatError`. */
  request<K extends string>(type: K, ...fields: RequestFields<K>): Promise<Reply<K>>;

  /** Join (or resume) `room`; the room is remembered for rejoining. */
  join(room: string, options?: { since?: number | undefined }): Promise<Reply<"join">>;
  leave(room: string): Promise<void>;
  /** Resolves with the message id. */
  send(
    room: string,
    text: string,
    options?: {
      replyTo?: number | null | undefined;
      meta?: Meta | null | undefined;
      clientId?: string | undefined;
    },
  ): Promise<number>;
  /** Resolves with the message as it is now. */
  edit(room: string, id: number, text: string, options?: { meta?: Meta | undefined }): Promise<Message>;
  deleteMessage(room: string, id: number): Promise<void>;
  react(room: string, id: number, emoji: string): Promise<void>;
  unreact(room: string, id: number, emoji: string): Promise<void>;
  /** Resolves with the read mark (it never moves back). */
  markRead(room: string, id: number): Promise<number>;
  /** Resolves with the private message's id; `room` is its context. */
  sendPrivate(to: string, text: string, room?: string): Promise<number>;
  typing(room: string): Promise<void>;
  rooms(options?: { watch?: boolean | undefined; unread?: boolean | undefined }): Promise<Room[]>;
  createRoom(room: string, title?: string, options?: { private?: boolean | undefined }): Promise<Room>;
  /** Rename (`title`; null keeps it) and/or make it private or public. */
  updateRoom(room: string, title: string | null, options?: { private?: boolean | undefined }): Promise<Room>;
  deleteRoom(room: string): Promise<void>;
  /** The direct room with user `to`. */
  direct(to: string): Promise<Room>;
  members(room: string): Promise<User[]>;
  /** A page of a room's members by name (`query`: a name prefix; `limit`: 1-100). */
  membersPage(
    room: string,
    options?: { after?: string | null | undefined; limit?: number | undefined; query?: string | undefined },
  ): Promise<Reply<"members">>;
  /** Every member of a room that is not large, page after page. */
  allMembers(room: string): Promise<User[]>;
  /** Watch up to 500 users' online status: those online now; `status` events follow. */
  watchUsers(users: string[]): Promise<string[]>;
  /** A page of older messages (`id < before`). */
  history(room: string, options?: { before?: number | undefined; limit?: number | undefined }): Promise<Reply<"history">>;
  ping(): Promise<Reply<"ping">>;
  setRole(room: string, user: string, role: "moderator" | "member"): Promise<void>;
  kick(room: string, user: string, options?: { reason?: string | undefined }): Promise<void>;
  ban(room: string, user: string, options?: { until?: number | null | undefined; reason?: string | undefined }): Promise<void>;
  unban(room: string, user: string): Promise<void>;
  mute(room: string, user: string, options?: { until?: number | null | undefined; reason?: string | undefined }): Promise<void>;
  unmute(room: string, user: string): Promise<void>;
  invite(room: string, user: string): Promise<void>;
  audit(room: string, options?: { before?: number | undefined; limit?: number | undefined }): Promise<Reply<"audit">>;
  /** Resolves with the users you block. */
  block(user: string): Promise<string[]>;
  unblock(user: string): Promise<string[]>;
  blocks(): Promise<string[]>;
}
