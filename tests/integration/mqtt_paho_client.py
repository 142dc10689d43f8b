#!/usr/bin/python3
"""One MQTT device session against iothubd, for mqtt_paho_test.cc.

Two clients:
  --client paho (default): Debian's python3-paho-mqtt 1.6.1 (MQTT 3.1.1), over TLS
      (--transport tcp) or WebSockets over TLS (--transport websockets, --ws-path). paho
      acknowledges every QoS 1 message itself (after on_message), as real apps do.
  --client raw: a few hand-written packets over an ssl socket, because paho 1.6.1 cannot leave a
      message unacknowledged: with --no-ack the PUBLISH is recorded and the socket closed without
      PUBACK or DISCONNECT (a device that lost power), so the hub must redeliver it.

The session: CONNECT (--clean 0|1), each --subscribe (QoS 1 requested unless 'filter@qos'), each
--publish 'topic' with --payload (--qos), then waits until --receive messages arrived or --timeout
seconds passed, then disconnects. Prints one JSON object on stdout:
  {"connack": rc, "sessionPresent": bool, "subscriptions": [{"filter", "granted"}],
   "published": [{"topic", "acked"}], "messages": [{"topic", "payload", "qos", "dup", "packetId"}],
   "closedByHub": bool, "error": str|null}
Asserts nothing: the C++ test judges the output.
"""

import argparse
import json
import socket
import ssl
import struct
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--client", choices=["paho", "raw"], default="paho")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--transport", choices=["tcp", "websockets"], default="tcp")
    p.add_argument("--ws-path", default="/$iothub/websocket")
    p.add_argument("--clean", type=int, default=1)
    p.add_argument("--subscribe", action="append", default=[])
    p.add_argument("--publish", action="append", default=[])
    p.add_argument("--payload", default="")
    p.add_argument("--qos", type=int, default=1)
    p.add_argument("--receive", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--no-ack", action="store_true")
    return p.parse_args()


def split_filter(spec):
    if "@" in spec:
        f, q = spec.rsplit("@", 1)
        return f, int(q)
    return spec, 1


def run_paho(a, out):
    import paho.mqtt.client as mqtt

    c = mqtt.Client(client_id=a.client_id, clean_session=bool(a.clean),
                    protocol=mqtt.MQTTv311, transport=a.transport)
    c.username_pw_set(a.username, password=a.password)
    c.tls_set(ca_certs=a.ca)
    if a.transport == "websockets":
        c.ws_set_options(path=a.ws_path)
    cond = threading.Condition()
    state = {"connack": None, "subacks": {}, "pubacks": set(), "disconnected": False}

    def on_connect(client, userdata, flags, rc):
        with cond:
            state["connack"] = rc
            out["sessionPresent"] = bool(flags.get("session present", 0))
            cond.notify_all()

    def on_subscribe(client, userdata, mid, granted):
        with cond:
            state["subacks"][mid] = list(granted)
            cond.notify_all()

    def on_publish(client, userdata, mid):
        with cond:
            state["pubacks"].add(mid)
            cond.notify_all()

    def on_message(client, userdata, msg):
        with cond:
            out["messages"].append({"topic": msg.topic,
                                    "payload": msg.payload.decode("utf-8", "replace"),
                                    "qos": msg.qos, "dup": bool(msg.dup), "packetId": msg.mid})
            cond.notify_all()

    def on_disconnect(client, userdata, rc):
        with cond:
            state["disconnected"] = True
            out["closedByHub"] = rc != 0
            cond.notify_all()

    c.on_connect, c.on_subscribe, c.on_publish = on_connect, on_subscribe, on_publish
    c.on_message, c.on_disconnect = on_message, on_disconnect

    def wait(pred, limit):
        deadline = time.time() + limit
        with cond:
            while not pred():
                left = deadline - time.time()
                if left <= 0:
                    return False
                cond.wait(left)
            return True

    try:
        c.connect(a.host, a.port, keepalive=60)
    except Exception as e:  # refused TCP, TLS or WebSocket handshake
        out["error"] = "connect: %s: %s" % (type(e).__name__, e)
        return
    c.loop_start()
    try:
        if not wait(lambda: state["connack"] is not None or state["disconnected"], 10):
            out["error"] = "no CONNACK"
            return
        out["connack"] = state["connack"]
        if state["connack"] != 0:
            return
        for spec in a.subscribe:
            f, q = split_filter(spec)
            rc, mid = c.subscribe(f, qos=q)
            ok = wait(lambda: mid in state["subacks"] or state["disconnected"], 10)
            granted = state["subacks"].get(mid, [None])[0] if ok else None
            out["subscriptions"].append({"filter": f, "granted": granted})
        for topic in a.publish:
            info = c.publish(topic, a.payload.encode("utf-8"), qos=a.qos)
            acked = True
            if a.qos > 0:
                acked = wait(lambda: info.mid in state["pubacks"] or state["disconnected"], 10) \
                    and info.mid in state["pubacks"]
            out["published"].append({"topic": topic, "acked": acked})
        wait(lambda: len(out["messages"]) >= a.receive or state["disconnected"], a.timeout)
        time.sleep(0.3)  # let paho's automatic PUBACK of the last message leave
    finally:
        c.disconnect()
        c.loop_stop()


# --- the raw client: MQTT 3.1.1 packets by hand ---

def mqtt_str(s):
    b = s.encode("utf-8")
    return struct.pack("!H", len(b)) + b


def packet(first, body):
    n, rl = len(body), b""
    while True:
        byte = n % 128
        n //= 128
        rl += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([first]) + rl + body


class RawConn:
    def __init__(self, a):
        ctx = ssl.create_default_context(cafile=a.ca)
        sock = socket.create_connection((a.host, a.port), timeout=10)
        self.s = ctx.wrap_socket(sock, server_hostname=a.host)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read(self, deadline):
        """(first byte, body), or None on timeout; raises EOFError when closed."""
        while True:
            if len(self.buf) >= 2:
                n, mult, i = 0, 1, 1
                while i < len(self.buf) and i <= 4:
                    b = self.buf[i]
                    n += (b & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not b & 0x80:
                        if len(self.buf) >= i + n:
                            first, body = self.buf[0], self.buf[i:i + n]
                            self.buf = self.buf[i + n:]
                            return first, body
                        break
            left = deadline - time.time()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            if not data:
                raise EOFError()
            self.buf += data


def run_raw(a, out):
    try:
        conn = RawConn(a)
    except Exception as e:
        out["error"] = "connect: %s: %s" % (type(e).__name__, e)
        return
    flags = 0xC0 | (0x02 if a.clean else 0)
    conn.send(packet(0x10, mqtt_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
                     + mqtt_str(a.client_id) + mqtt_str(a.username) + mqtt_str(a.password)))
    deadline = time.time() + a.timeout + 10
    pending = []  # packets read while waiting for something else
    try:
        def wait_for(ptype, limit):
            end = time.time() + limit
            while True:
                p = conn.read(end)
                if p is None:
                    return None
                if p[0] >> 4 == ptype:
                    return p
                pending.append(p)

        p = wait_for(2, 10)
        if p is None:
            out["error"] = "no CONNACK"
            return
        out["connack"] = p[1][1]
        out["sessionPresent"] = bool(p[1][0] & 1)
        if out["connack"] != 0:
            return
        pid = 1
        for spec in a.subscribe:
            f, q = split_filter(spec)
            conn.send(packet(0x82, struct.pack("!H", pid) + mqtt_str(f) + bytes([q])))
            p = wait_for(9, 10)
            out["subscriptions"].append({"filter": f, "granted": p[1][2] if p else None})
            pid += 1
        deadline = time.time() + a.timeout
        while len(out["messages"]) < a.receive:
            p = pending.pop(0) if pending else conn.read(deadline)
            if p is None:
                break
            first, body = p
            if first >> 4 != 3:
                continue
            qos = (first >> 1) & 3
            tlen = struct.unpack("!H", body[:2])[0]
            topic = body[2:2 + tlen].decode("utf-8", "replace")
            at, packet_id = 2 + tlen, None
            if qos:
                packet_id = struct.unpack("!H", body[at:at + 2])[0]
                at += 2
            out["messages"].append({"topic": topic,
                                    "payload": body[at:].decode("utf-8", "replace"),
                                    "qos": qos, "dup": bool(first & 0x08), "packetId": packet_id})
            if qos and not a.no_ack:
                conn.send(packet(0x40, struct.pack("!H", packet_id)))
        if not a.no_ack:
            conn.send(packet(0xE0, b""))
    except (EOFError, OSError) as e:
        out["closedByHub"] = True
        if not isinstance(e, EOFError):
            out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        # --no-ack: gone without PUBACK or DISCONNECT.
        conn.s.close()


def main():
    a = parse_args()
    out = {"connack": None, "sessionPresent": None, "subscriptions": [], "published": [],
           "messages": [], "closedByHub": False, "error": None}
    try:
        (run_raw if a.client == "raw" else run_paho)(a, out)
    except Exception as e:  # reported, never raised: the test reads the JSON
        out["error"] = "%s: %s" % (type(e).__name__, e)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
