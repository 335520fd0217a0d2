// The page's own words in English and Spanish, chosen by the browser's language.
// (The Python clients use gettext; the page keeps its small dictionary here.)

const WORDS = {
  en: {
    title: "Tertulia",
    tagline: "A chat among friends. Pick a name to come in.",
    name: "Your name",
    password: "Password (only for a registered name)",
    enter: "Enter",
    connecting: "Connecting…",
    lost: "Connection lost.",
    reconnectIn: "Trying again in {s} s…",
    back: "Back online. Catching up…",
    rooms: "Rooms",
    people: "Private",
    members: "In this room",
    send: "Send",
    placeholder: "Message {room} (/help)",
    menu: "Rooms and people",
    newer: "New messages ↓",
    start: "This is the beginning of {room}.",
    loading: "Loading older messages…",
    leftChat: "You left the chat.",
    enterAgain: "Come back",
    byeShutdown: "The server is restarting.",
    byeSlow: "The connection was too slow.",
    bye: "The server closed the connection: {text}",
    nameInUse: "That name is taken. Pick another.",
    nameStillHeld: "Your name is still held for the lost connection; waiting for it…",
    authRequired: "That name is registered: type its password.",
    authFailed: "Wrong password.",
    invalidName: "Names have letters, digits, _ - and ., and start with a letter.",
    topicNone: "No topic",
    topicSet: "{name} set the topic: {text}",
    joined: "{name} joined",
    left: "{name} left ({reason})",
    quit: "{name} quit ({reason})",
    removed: "You are no longer in {room} ({reason}).",
    renamed: "{old} is now {new}",
    you: "you",
    usersIn: "In {room}: {names}",
    roomsList: "Rooms: {list}",
    color: "Your colour is now {color}",
    unknown: "Unknown or incomplete command: {line}",
    registered: "{name} is now registered: next time, use your password.",
    historyDone: "{count} older messages of {room}",
    passwordChanged: "The password of {name} is changed.",
    unregistered: "{name} is no longer registered.",
    managed: "{cmd} is managed by this page.",
    banLine: "Ban: {target} until {until}, by {operator} {reason}",
    forever: "lifted",
    bansCount: "{count} bans in force",
    server: "Server: {url}",
    moved: "Connected to another server: {url}",
    help: [
      "/join #room: join a room and switch to it",
      "/leave [#room]: leave a room (default: this one)",
      "/msg name text: a private message",
      "/me text: an action",
      "/nick name: change your name",
      "/topic [text]: read or set this room's topic",
      "/users: who is in this room",
      "/rooms: the rooms with members",
      "/history [n]: the last n messages of this room",
      "/color [#RRGGBB]: a new colour",
      "/register password: protect your name with a password",
      "/password old new: change that password; /unregister password: remove it",
      "/kick name [reason], /mute name [duration], /unmute name, /voice name, "
        + "/devoice name, /invite name, /mode [+m|-m|+i|-i]: this room (its creator, operators)",
      "/ban name|address [duration] [reason], /unban name|address, /bans, "
        + "/announce text: operators",
      "/quit [reason]: leave the chat",
      "@<- VERB args sends any protocol command (@<- HELP lists them). "
        + "//text sends a line that starts with /. Scroll up for older messages.",
    ],
  },
  es: {
    title: "Tertulia",
    tagline: "Una charla entre amigos. Elige un nombre para entrar.",
    name: "Tu nombre",
    password: "Contraseña (solo para un nombre registrado)",
    enter: "Entrar",
    connecting: "Conectando…",
    lost: "Se perdió la conexión.",
    reconnectIn: "Reintento en {s} s…",
    back: "Conectado de nuevo. Poniéndose al día…",
    rooms: "Salas",
    people: "Privados",
    members: "En esta sala",
    send: "Enviar",
    placeholder: "Mensaje a {room} (/help)",
    menu: "Salas y personas",
    newer: "Mensajes nuevos ↓",
    start: "Este es el principio de {room}.",
    loading: "Cargando mensajes anteriores…",
    leftChat: "Has salido del chat.",
    enterAgain: "Volver",
    byeShutdown: "El servidor se está reiniciando.",
    byeSlow: "La conexión era demasiado lenta.",
    bye: "El servidor cerró la conexión: {text}",
    nameInUse: "Ese nombre está ocupado. Elige otro.",
    nameStillHeld: "Tu nombre sigue reservado para la conexión perdida; esperando a que quede libre…",
    authRequired: "Ese nombre está registrado: escribe su contraseña.",
    authFailed: "Contraseña incorrecta.",
    invalidName: "Los nombres llevan letras, cifras, _ - y ., y empiezan por una letra.",
    topicNone: "Sin tema",
    topicSet: "{name} puso el tema: {text}",
    joined: "{name} ha entrado",
    left: "{name} ha salido ({reason})",
    quit: "{name} se ha ido ({reason})",
    removed: "Ya no estás en {room} ({reason}).",
    renamed: "{old} ahora es {new}",
    you: "tú",
    usersIn: "En {room}: {names}",
    roomsList: "Salas: {list}",
    color: "Tu color ahora es {color}",
    unknown: "Comando desconocido o incompleto: {line}",
    registered: "{name} ya está registrado: la próxima vez, usa tu contraseña.",
    historyDone: "{count} mensajes anteriores de {room}",
    passwordChanged: "La contraseña de {name} ha cambiado.",
    unregistered: "{name} ya no está registrado.",
    managed: "{cmd} lo gestiona esta página.",
    banLine: "Veto: {target} hasta {until}, por {operator} {reason}",
    forever: "que se levante",
    bansCount: "{count} vetos en vigor",
    server: "Servidor: {url}",
    moved: "Conectado a otro servidor: {url}",
    help: [
      "/join #sala: entrar en una sala y pasar a ella",
      "/leave [#sala]: salir de una sala (por defecto, esta)",
      "/msg nombre texto: un mensaje privado",
      "/me texto: una acción",
      "/nick nombre: cambiar de nombre",
      "/topic [texto]: leer o poner el tema de esta sala",
      "/users: quién está en esta sala",
      "/rooms: las salas con gente",
      "/history [n]: los últimos n mensajes de esta sala",
      "/color [#RRGGBB]: un color nuevo",
      "/register contraseña: proteger tu nombre con una contraseña",
      "/password vieja nueva: cambiar esa contraseña; /unregister contraseña: quitarla",
      "/kick nombre [motivo], /mute nombre [duración], /unmute nombre, /voice nombre, "
        + "/devoice nombre, /invite nombre, /mode [+m|-m|+i|-i]: esta sala "
        + "(su creador, operadores)",
      "/ban nombre|dirección [duración] [motivo], /unban nombre|dirección, /bans, "
        + "/announce texto: operadores",
      "/quit [motivo]: salir del chat",
      "@<- VERBO args envía cualquier comando del protocolo (@<- HELP los lista). "
        + "//texto envía una línea que empieza por /. Sube para ver mensajes anteriores.",
    ],
  },
};

function pickLanguage() {
  const wanted = navigator.languages && navigator.languages.length
    ? navigator.languages : [navigator.language || "en"];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in WORDS) return base;
  }
  return "en";
}

export const LANG = pickLanguage();

/** The page's word for ``key`` with ``{name}`` placeholders filled in. */
export function t(key, vars = {}) {
  const value = WORDS[LANG][key] ?? WORDS.en[key] ?? key;
  if (typeof value !== "string") return value;
  return value.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole);
}
