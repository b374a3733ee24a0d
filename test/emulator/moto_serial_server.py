"""moto server with its requests handled one at a time.

moto's DynamoDB backend checks a ConditionExpression and then writes, with no lock between the two, and
`moto_server` serves every request on its own thread: two racing conditional writes on one item can both
pass (seen: 2 of 10 concurrent TOTP redemptions accepted, 4 tries spent of a 3-try PIN counter). DynamoDB
makes each conditional write atomic, and our invariants rest on that, so the emulator must too: this runs
moto's own WSGI application behind one lock. Connections are still accepted concurrently.

Usage: python moto_serial_server.py HOST PORT
"""
import os
import signal
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


def serialised(app):
    lock = threading.Lock()

    def application(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the backend's work happens while it is produced.
            return list(app(environ, start_response))

    return application


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
