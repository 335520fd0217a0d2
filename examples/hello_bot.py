"""The smallest Tertulia bot: JSON mode, one message, then QUIT.

Start a server (tertulia serve), then run: python examples/hello_bot.py
It prints every line the server sends.  Standard library only.
"""

import json
import socket

with socket.create_connection(("localhost", 3000)) as sock:
    lines = sock.makefile("r", encoding="utf-8", newline="\n")
    print(lines.readline(), end="")  # @-> WELCOME ... (text)
    sock.sendall(b"@<- PROTO json\n")
    print(lines.readline(), end="")  # @-> OK PROTO json (the last text line)

    def send(**fields):
        sock.sendall((json.dumps(fields) + "\n").encode())

    def wait_for(ref):
        """Print what arrives, up to the reply that carries this ref."""
        while True:
            obj = json.loads(lines.readline())
            print(obj)
            if obj.get("ref") == ref:
                return obj

    send(cmd="identify", name="hellobot", ref=1)
    wait_for(1)
    send(cmd="say", text="hola, I am a bot", ref=2)
    wait_for(2)
    send(cmd="quit", reason="done")
    for line in lines:  # the BYE, then the server closes the connection
        print(json.loads(line))
