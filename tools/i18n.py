"""Translations of the clients' words: extract, check and compile (no gettext tools needed).

    python tools/i18n.py extract   # messages.pot from every _("...") in src/tertulia/client
    python tools/i18n.py update    # add new messages to each locale/*/LC_MESSAGES/tertulia.po
    python tools/i18n.py compile   # .po -> .mo (the .mo files are committed)
    python tools/i18n.py check     # exit 1 if a message is untranslated or a .mo is stale

The catalogues live in src/tertulia/client/locale/<lang>/LC_MESSAGES/.
Only simple .po files are handled: one-line or concatenated ``msgid``/``msgstr``
strings, no plurals, no contexts.
"""

from __future__ import annotations

import ast
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "src" / "tertulia" / "client"
LOCALE = CLIENT / "locale"
DOMAIN = "tertulia"


def extract() -> list[str]:
    """Every literal passed to ``_()`` in the client package, in file order."""
    found: dict[str, None] = {}
    for path in sorted(CLIENT.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "_" and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found[node.args[0].value] = None
    return list(found)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def read_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr (the header, msgid "", included)."""
    entries: dict[str, str] = {}
    msgid: str | None = None
    msgstr: str | None = None
    current = ""
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.strip()
        if line.startswith("msgid "):
            if msgid is not None and msgstr is not None:
                entries[msgid] = msgstr
            msgid, msgstr, current = _unquote(line[6:]), None, "id"
        elif line.startswith("msgstr "):
            msgstr, current = _unquote(line[7:]), "str"
        elif line.startswith('"'):
            if current == "id" and msgid is not None:
                msgid += _unquote(line)
            elif current == "str" and msgstr is not None:
                msgstr += _unquote(line)
        elif not line and msgid is not None and msgstr is not None:
            entries[msgid] = msgstr
            msgid = msgstr = None
    return entries


def write_po(path: Path, entries: dict[str, str], order: list[str]) -> None:
    header = entries.get("", "Content-Type: text/plain; charset=UTF-8\n")
    lines = ['msgid ""', f"msgstr {_quote(header)}", ""]
    for msgid in order:
        lines += [f"msgid {_quote(msgid)}", f"msgstr {_quote(entries.get(msgid, ''))}", ""]
    path.write_text("\n".join(lines))


def mo_bytes(entries: dict[str, str]) -> bytes:
    """The GNU .mo format: header, two offset tables, then the strings."""
    pairs = sorted((k, v) for k, v in entries.items() if v or k == "")
    ids = [k.encode() for k, _ in pairs]
    strs = [v.encode() for _, v in pairs]
    n = len(pairs)
    start = 7 * 4 + 16 * n
    id_blob = b"".join(i + b"\0" for i in ids)
    table_ids, table_strs, offset = [], [], start
    for i in ids:
        table_ids.append((len(i), offset))
        offset += len(i) + 1
    for s in strs:
        table_strs.append((len(s), offset))
        offset += len(s) + 1
    out = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
    out += b"".join(struct.pack("<2I", *t) for t in table_ids)
    out += b"".join(struct.pack("<2I", *t) for t in table_strs)
    return out + id_blob + b"".join(s + b"\0" for s in strs)


def catalogues() -> list[Path]:
    return sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    messages = extract()
    if command == "extract":
        write_po(LOCALE / f"{DOMAIN}.pot", {}, messages)
        return 0
    status = 0
    for po in catalogues():
        entries = read_po(po)
        if command == "update":
            write_po(po, entries, messages)
        elif command == "compile":
            po.with_suffix(".mo").write_bytes(mo_bytes(entries))
        elif command == "check":
            missing = [m for m in messages if not entries.get(m)]
            for m in missing:
                print(f"{po.relative_to(ROOT)}: no translation for {m!r}")
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.read_bytes() != mo_bytes(entries):
                print(f"{mo.relative_to(ROOT)} is stale: run python tools/i18n.py compile")
                status = 1
            status |= bool(missing)
        else:
            print(__doc__)
            return 2
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
