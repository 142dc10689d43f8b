#!/usr/bin/python3
"""One scripted AMQP 1.0 session against iothubd with Debian's python3-qpid-proton, for
amqp_*_test.cc.

Proton's own reactor drives the connection, but nothing happens by itself: no automatic credit,
acceptance or settlement (the handler is a bare proton.Handler), so each step of the script is
exactly what goes on the wire. The connection: --host/--port, TLS when --ca is given (the hub's CA
verifies the certificate), SASL --sasl none (the bare AMQP header, as the Node SDKs do),
anonymous, or plain (--user, --password).

The script is a JSON array of steps (--steps), run in order; each prints one JSON line on stdout
with what it saw (the C++ test judges it; this script asserts nothing):
  {"op": "connect"}                        -> {"open": bool, "error": {condition, description}}
  {"op": "put-token", "token", "audience"} -> {"status": int, "description", "correlated": bool}
      (attaches the $cbs sender and receiver on first use)
  {"op": "attach", "link", "address", "role": "sender"|"receiver", "credit": n}
      -> {"attached": bool, "error": {...}}   (attached: the hub echoed the terminus and did not
         detach it within --settle-time seconds)
  {"op": "send", "link", "body", "size": n (a body of n bytes instead), "id", "to", "ack",
   "properties": {}, "value": bool (amqp-value body instead of Data)}
      -> {"state": "accepted"|"rejected"|..., "error": {...}, "detached": {...}}
  {"op": "flow", "link", "credit": n}      -> {}
  {"op": "receive", "link", "count": n, "timeout": s}
      -> {"messages": [{index, body, id, correlationId, to, properties, deliveryCount,
                        annotations, contentType, userId, settled}]}   (every message that arrived meanwhile)
  {"op": "settle", "link", "indices": [..], "outcome": "accepted"|"rejected"|"released"|
   "modified"}                             -> {}   (all updated and settled in one go, so Proton
         may merge consecutive ones into a single first..last disposition)
  {"op": "wait", "seconds": s, "until-detached": [links]}
      -> {"elapsed": s, "links": {name: {"open": bool, "error": {...}}}, "closed": {...}}
  {"op": "close-link", "link"}, {"op": "close"}
A step that cannot run prints {"op", "exception"} and ends the script. With PN_TRACE_FRM=1 in
its environment, Proton prints every frame on stderr (the test reads dispositions there).
"""

import argparse
import json
import sys
import time
import uuid

from proton import Delivery, Endpoint, Handler, Message, SSLDomain
from proton.reactor import Container


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", default="")
    p.add_argument("--sasl", choices=["none", "anonymous", "plain"], default="none")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--steps", required=True)
    p.add_argument("--settle-time", type=float, default=0.15)
    return p.parse_args()


def condition_of(cond):
    if cond is None:
        return None
    return {"condition": str(cond.name), "description": cond.description}


def text(value):
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value if isinstance(value, (str, int, float, bool)) else str(value)


class Session(Handler):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.container = Container()
        self.container.start()
        self.conn = None
        self.links = {}     # name -> proton Link
        self.received = {}  # name -> [Delivery] in arrival order
        self.messages = {}  # name -> [decoded message dict] not yet reported
        self.transport_error = None
        self.start = time.time()

    # --- the event loop ---

    def run_until(self, cond, timeout):
        deadline = time.time() + timeout
        while not cond():
            left = deadline - time.time()
            if left <= 0:
                return False
            self.container.timeout = min(left, 0.1)
            self.container.process()
        return True

    def conn_closed(self):
        return self.conn is None or bool(self.conn.state & Endpoint.REMOTE_CLOSED) or \
            self.transport_error is not None

    # --- events (everything else is ignored) ---

    def on_transport_error(self, event):
        self.transport_error = condition_of(event.transport.condition) or {"condition": "?"}

    def on_transport_closed(self, event):
        if self.transport_error is None:
            self.transport_error = {"condition": "transport closed", "description": None}

    def on_delivery(self, event):
        d = event.delivery
        link = d.link
        if not link.is_receiver or not d.readable or d.partial:
            return
        if link != self.links.get(link.name) or d in self.received[link.name]:
            return
        data = link.recv(d.pending)
        link.advance()
        m = Message()
        m.decode(data)
        props = dict(m.properties or {})
        self.received[link.name].append(d)
        self.messages[link.name].append({
            "index": len(self.received[link.name]) - 1,
            "body": text(m.body),
            "id": text(m.id),
            "correlationId": text(m.correlation_id),
            "to": m.address,
            "properties": {str(k): text(v) for k, v in props.items()},
            "deliveryCount": m.delivery_count,  # the header's (0 when it has none)
            "annotations": {str(k): text(v) for k, v in (m.annotations or {}).items()},
            # Proton turns an absent symbol into symbol(None), i.e. "None".
            "contentType": None if m.content_type in (None, "None") else text(m.content_type),
            "userId": text(m.user_id),
            "settled": d.settled,
        })

    # --- steps ---

    def connect(self, step):
        a = self.a
        kwargs = {"reconnect": False, "handler": self}
        if a.ca:
            domain = SSLDomain(SSLDomain.MODE_CLIENT)
            domain.set_trusted_ca_db(a.ca)
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER)
            kwargs["ssl_domain"] = domain
        if a.sasl == "none":
            kwargs["sasl_enabled"] = False
        elif a.sasl == "anonymous":
            kwargs["allowed_mechs"] = "ANONYMOUS"
        else:
            kwargs.update(user=a.user, password=a.password, allowed_mechs="PLAIN",
                          allow_insecure_mechs=True)
        url = "%s://%s:%d" % ("amqps" if a.ca else "amqp", a.host, a.port)
        self.conn = self.container.connect(url, **kwargs)
        self.run_until(lambda: self.conn.state & Endpoint.REMOTE_ACTIVE or self.conn_closed(),
                       step.get("timeout", 10))
        return {"open": bool(self.conn.state & Endpoint.REMOTE_ACTIVE) and not self.conn_closed(),
                "error": condition_of(self.conn.remote_condition) or self.transport_error}

    def attach(self, step):
        name = step["link"]
        if step.get("role", "sender") == "sender":
            link = self.container.create_sender(self.conn, step["address"], name=name,
                                                handler=self)
        else:
            link = self.container.create_receiver(self.conn, step["address"], name=name,
                                                  handler=self)
        self.links[name] = link
        self.received[name] = []
        self.messages[name] = []
        if link.is_receiver:
            link.flow(step.get("credit", 0))
        self.run_until(lambda: link.state & (Endpoint.REMOTE_ACTIVE | Endpoint.REMOTE_CLOSED) or
                       self.conn_closed(), step.get("timeout", 10))
        # A refusal is an attach without a terminus followed by a detach with the error.
        self.run_until(lambda: link.state & Endpoint.REMOTE_CLOSED or self.conn_closed(),
                       self.a.settle_time)
        terminus = link.remote_target if link.is_sender else link.remote_source
        attached = bool(link.state & Endpoint.REMOTE_ACTIVE) and terminus.address is not None
        return {"attached": attached, "error": condition_of(link.remote_condition),
                "closed": self.conn_closed()}

    def send(self, step):
        link = self.links[step["link"]]
        m = Message()
        if "size" in step:
            body = b"x" * step["size"]
        else:
            body = step.get("body", "").encode("utf-8")
        if step.get("value"):
            m.body = body.decode("utf-8")
        else:
            m.body = body
            m.inferred = True  # bytes as one Data section
        if "id" in step:
            m.id = step["id"]
        if "to" in step:
            m.address = step["to"]
        props = dict(step.get("properties", {}))
        if "ack" in step:
            props["iothub-ack"] = step["ack"]
        if props:
            m.properties = props
        self.run_until(lambda: link.credit > 0 or link.state & Endpoint.REMOTE_CLOSED or
                       self.conn_closed(), step.get("timeout", 10))
        if link.credit <= 0:
            return {"state": None, "credit": 0, "detached": condition_of(link.remote_condition),
                    "closed": self.conn_closed()}
        d = link.send(m)
        self.run_until(lambda: d.remote_state or d.settled or
                       link.state & Endpoint.REMOTE_CLOSED or self.conn_closed(),
                       step.get("timeout", 10))
        names = {Delivery.ACCEPTED: "accepted", Delivery.REJECTED: "rejected",
                 Delivery.RELEASED: "released", Delivery.MODIFIED: "modified"}
        state = names.get(d.remote_state, None if not d.remote_state else str(d.remote_state))
        out = {"state": state, "error": condition_of(d.remote.condition)}
        if link.state & Endpoint.REMOTE_CLOSED:
            out["detached"] = condition_of(link.remote_condition) or {}
        if self.conn_closed():
            out["closed"] = condition_of(self.conn.remote_condition) or self.transport_error
        d.settle()
        return out

    def flow(self, step):
        self.links[step["link"]].flow(step["credit"])
        self.run_until(lambda: False, 0.05)  # let the flow go out
        return {}

    def receive(self, step):
        name = step["link"]
        count = step.get("count", 1)
        self.run_until(lambda: len(self.messages[name]) >= count or self.conn_closed() or
                       self.links[name].state & Endpoint.REMOTE_CLOSED, step.get("timeout", 10))
        out, self.messages[name] = self.messages[name], []
        return {"messages": out}

    def settle(self, step):
        name = step["link"]
        outcome = {"accepted": Delivery.ACCEPTED, "rejected": Delivery.REJECTED,
                   "released": Delivery.RELEASED, "modified": Delivery.MODIFIED}[step["outcome"]]
        for i in step["indices"]:
            d = self.received[name][i]
            d.update(outcome)
            d.settle()
        self.run_until(lambda: False, 0.1)  # let the disposition go out
        return {}

    def put_token(self, step):
        if "$cbs-sender" not in self.links:
            r = self.attach({"link": "$cbs-sender", "address": "$cbs", "role": "sender"})
            if not r["attached"]:
                return {"status": None, "attach": r}
            r = self.attach({"link": "$cbs-receiver", "address": "$cbs", "role": "receiver",
                             "credit": 10})
            if not r["attached"]:
                return {"status": None, "attach": r}
        request_id = str(uuid.uuid4())
        m = Message(body=step["token"], id=request_id, address="$cbs", reply_to="cbs")
        m.properties = {"operation": "put-token", "type": "servicebus.windows.net:sastoken",
                        "name": step["audience"]}
        sender = self.links["$cbs-sender"]
        self.run_until(lambda: sender.credit > 0 or self.conn_closed(), 10)
        d = sender.send(m)
        self.run_until(lambda: self.messages["$cbs-receiver"] or self.conn_closed(),
                       step.get("timeout", 10))
        if not self.messages["$cbs-receiver"]:
            return {"status": None, "settled": d.settled, "closed": self.conn_closed()}
        response = self.messages["$cbs-receiver"].pop(0)
        d.settle()
        return {"status": response["properties"].get("status-code"),
                "description": response["properties"].get("status-description"),
                "correlated": response["correlationId"] == request_id,
                "requestSettled": d.remote_state == Delivery.ACCEPTED or d.settled}

    def links_state(self):
        return {name: {"open": not (link.state & Endpoint.REMOTE_CLOSED),
                       "error": condition_of(link.remote_condition)}
                for name, link in self.links.items() if not name.startswith("$cbs")}

    def wait(self, step):
        watched = [self.links[n] for n in step.get("until-detached", [])]
        start = time.time()
        self.run_until(lambda: (watched and all(l.state & Endpoint.REMOTE_CLOSED
                                                for l in watched)) or self.conn_closed(),
                       step.get("seconds", 1))
        return {"elapsed": round(time.time() - start, 2), "links": self.links_state(),
                "closed": self.conn_closed(),
                "error": condition_of(self.conn.remote_condition) or self.transport_error}

    def close_link(self, step):
        link = self.links[step["link"]]
        link.close()
        self.run_until(lambda: link.state & Endpoint.REMOTE_CLOSED or self.conn_closed(), 5)
        return {"closed": bool(link.state & Endpoint.REMOTE_CLOSED)}

    def close(self, step):
        if self.conn is not None and not self.conn_closed():
            self.conn.close()
            self.run_until(self.conn_closed, 5)
        return {}


def main():
    a = parse_args()
    s = Session(a)
    for step in json.loads(a.steps):
        op = step["op"]
        try:
            out = getattr(s, op.replace("-", "_"))(step)
        except Exception as e:  # reported, never raised: the test reads the JSON
            out = {"exception": "%s: %s" % (type(e).__name__, e)}
        out["op"] = op
        out["t"] = round(time.time() - s.start, 2)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        if "exception" in out:
            break


if __name__ == "__main__":
    main()
