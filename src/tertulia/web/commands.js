// What a typed command becomes on the wire. Pure: no DOM, no socket.
//
// The page speaks JSON mode, but a user may type the text-mode form of any
// verb (`@<- KICK #room name spam`, docs/reference/protocol.md). translate()
// splits such a line the way the server's text parser does
// (tertulia.protocol.commands.text_args) and names the pieces with the
// fields the server's JSON parser reads (json_args), so the server sees the
// same command either way; tests/browser/test_commands.py checks that, verb
// by verb, against the Python parser. The server still checks every value
// (names, rooms, durations...): what is only wrong in content comes back as
// its own error. Here only what the page cannot send at all is refused
// (an unknown verb, a missing argument).
//
// slashLine() turns the /commands the terminal client shares with the page
// (/kick, /ban, /register...) into such a line, with the current room filled
// in where the verb wants one first.

const DURATION_RE = /^[0-9]{1,9}[smhdw]$/i;

// Each verb: the names of its space-separated words in order; "*name" takes
// the rest of the line (spaces included); "?" marks an optional word. A
// function is for verbs whose words are read by what they look like.
const LAYOUT = {
  IDENTIFY: ["name", "?*password"],
  REGISTER: ["*password"],
  PASSWORD: ["old", "*new"],
  UNREGISTER: ["*password"],
  NICK: ["name!"],
  JOIN: ["room!"],
  LEAVE: ["?room!"],
  SAY: ["room", "*text"],
  ME: ["*text"],
  MSG: ["to", "*text"],
  USERS: ["?room!"],
  ROOMS: [],
  TOPIC: ["room", "?*text"],
  HISTORY: history,
  COLOR: ["?color!"],
  COLORS: ["mode!"],
  PROTO: ["mode!"],
  PING: ["?*token"],
  PONG: ["?*token"],
  HELP: ["?verb!"],
  QUIT: ["?*reason"],
  KICK: ["room", "name", "?*reason"],
  BAN: ban,
  UNBAN: ["target!"],
  BANS: [],
  MUTE: ["room", "name", "?*duration"],
  UNMUTE: ["room", "name!"],
  ANNOUNCE: ["*text"],
  MODE: ["room", "?mode!"],
  VOICE: ["room", "name!"],
  DEVOICE: ["room", "name!"],
  INVITE: ["room", "name!"],
};

/** Every verb the server knows (the test compares it with the Verb enum). */
export const VERBS = Object.keys(LAYOUT);

/** The verbs the page itself manages: typing them would break its session. */
export const MANAGED = ["IDENTIFY", "PROTO", "PONG"];

class CommandError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function takeWord(rest) {
  const cut = rest.indexOf(" ");
  if (cut < 0) return [rest, ""];
  return [rest.slice(0, cut), rest.slice(cut + 1).replace(/^ +/, "")];
}

function missing(what, verb) {
  return new CommandError("MISSING_ARGUMENT", `${what} missing; try @<- HELP ${verb}`);
}

function tooMany(verb) {
  return new CommandError("BAD_ARGUMENT", `too many arguments; try @<- HELP ${verb}`);
}

function byLayout(verb, layout, rest) {
  const fields = {};
  for (const slot of layout) {
    const optional = slot.startsWith("?");
    const whole = slot.replace("?", "").startsWith("*");
    const last = slot.endsWith("!"); // nothing may follow this word
    const key = slot.replace(/[?*!]/g, "");
    let value;
    if (whole) {
      value = rest;
      rest = "";
    } else {
      [value, rest] = takeWord(rest);
      if (last && rest) throw tooMany(verb);
    }
    if (!value) {
      if (optional) break;
      throw missing(key, verb);
    }
    fields[key] = value;
  }
  if (rest) throw tooMany(verb);
  return fields;
}

function history(rest) {
  const words = rest.split(/ +/).filter((w) => w);
  const fields = {};
  if (words.length && words[0].startsWith("#")) fields.room = words.shift();
  if (words.length && !/^(before|after)$/i.test(words[0])) {
    const word = words.shift();
    if (!/^[+-]?[0-9]{1,9}$/.test(word)) {
      throw new CommandError("BAD_ARGUMENT", "usage: HISTORY [#room] [n] [before ID | after ID]");
    }
    fields.limit = Number(word);
  }
  if (words.length) {
    const direction = words.shift().toLowerCase();
    if (direction !== "before" && direction !== "after") {
      throw new CommandError("BAD_ARGUMENT", "usage: HISTORY [#room] [n] [before ID | after ID]");
    }
    if (!words.length) throw missing("message id", "HISTORY");
    fields[direction] = words.shift();
  }
  if (words.length) throw tooMany("HISTORY");
  return fields;
}

function ban(rest) {
  const [target, tail] = takeWord(rest);
  if (!target) throw missing("name or address", "BAN");
  const fields = { target };
  const [word, after] = takeWord(tail);
  let reason = tail;
  if (word && DURATION_RE.test(word)) {
    fields.duration = word;
    reason = after;
  }
  if (reason) fields.reason = reason;
  return fields;
}

/**
 * A text-mode command line (`@<- VERB args`) as the JSON object to send
 * (without "ref"). Throws an Error with a `code` (UNKNOWN_COMMAND,
 * MISSING_ARGUMENT, BAD_ARGUMENT) when it cannot be sent.
 */
export function translate(line) {
  const body = line.replace(/^@<-/, "").replace(/^ +/, "");
  const [word, rest] = takeWord(body);
  const verb = word.toUpperCase();
  if (!word) throw new CommandError("UNKNOWN_COMMAND", "no command after @<-; try @<- HELP");
  if (!Object.prototype.hasOwnProperty.call(LAYOUT, verb) || !/^[A-Za-z]+$/.test(word)) {
    throw new CommandError("UNKNOWN_COMMAND", `unknown command ${word.slice(0, 32)}; try @<- HELP`);
  }
  const layout = LAYOUT[verb];
  const fields = typeof layout === "function" ? layout(rest) : byLayout(verb, layout, rest);
  return { cmd: verb.toLowerCase(), ...fields };
}

// /commands that are a verb with the current room first when it is not typed.
const ROOM_FIRST = ["kick", "mute", "unmute", "mode", "voice", "devoice", "invite"];
// /commands that are a verb as it is.
const AS_IS = ["register", "password", "unregister", "ban", "unban", "bans", "announce"];

/** The /commands slashLine() knows, for the help and Tab completion. */
export const SLASH_VERBS = [...AS_IS, ...ROOM_FIRST];

/**
 * The `@<- VERB args` line for a /command of SLASH_VERBS (`/kick bob spam`
 * in #x is `@<- KICK #x bob spam`), or null for any other /command.
 */
export function slashLine(verb, rest, room) {
  if (AS_IS.includes(verb)) return `@<- ${verb.toUpperCase()} ${rest}`.trimEnd();
  if (!ROOM_FIRST.includes(verb)) return null;
  const withRoom = rest.startsWith("#") || !room ? rest : `${room} ${rest}`;
  return `@<- ${verb.toUpperCase()} ${withRoom}`.trimEnd();
}
