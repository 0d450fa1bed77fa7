"""SPNEGO acceptor for the WebHDFS test server (packages/fs/src/test-kit/webhdfs-server.ts).

Runs on Debian's python3 with python3-gssapi (MIT Kerberos), so the tokens the client
side makes with the `kerberos` npm package are checked by an independent GSSAPI
binding. One JSON request per line on stdin:
    {"id": 1, "service": "HTTP@localhost", "token": "<base64 SPNEGO token>"}
one JSON answer per line on stdout:
    {"id": 1, "principal": "alice@CP.TEST", "token": "<base64 reply or null>"}
    {"id": 1, "error": "<GSSAPI's message>"}
The keytab is argv[1]; the acceptor takes only the key of the service named in the
request, so a token made for another host's principal is refused.
"""

import base64
import binascii
import json
import sys

import gssapi


def main() -> None:
    keytab = sys.argv[1]
    creds = {}
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        answer = {"id": req.get("id")}
        try:
            service = req["service"]
            if service not in creds:
                name = gssapi.Name(service, gssapi.NameType.hostbased_service)
                creds[service] = gssapi.Credentials(name=name, usage="accept", store={"keytab": keytab})
            ctx = gssapi.SecurityContext(creds=creds[service], usage="accept")
            out = ctx.step(base64.b64decode(req["token"], validate=True))
            if not ctx.complete:
                raise ValueError("the SPNEGO exchange needs more than one round trip")
            answer["principal"] = str(ctx.initiator_name)
            answer["token"] = base64.b64encode(out).decode("ascii") if out else None
        except (gssapi.exceptions.GSSError, ValueError, KeyError, binascii.Error) as e:
            answer["error"] = str(e).replace("\n", " ")
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
