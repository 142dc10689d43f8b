#!/usr/bin/env python3
"""Side-by-side MQTT benchmark: a fresh iothubd and a fresh Mosquitto in one run, measured by the
same load generator (bench/mqtt_load.cc), reported as absolute numbers and iothub/mosquitto ratios.

Run through `scripts/bench mqtt [options]` (it builds iothubd and mqtt_load and installs Mosquitto).
Loopback only: each broker listens on its own 127.0.0.x address. Tests, in this order, each run
against iothub then Mosquitto:
  idle TLS / idle plain   N connections: CONNECT, SUBSCRIBE devicebound, idle; broker RSS before,
                          with all open, and after closing them -> KiB per connection
  telemetry TLS / plain   M publishers, QoS 1, W outstanding each, T seconds -> PUBACKed msgs/s,
                          p50/p99 PUBACK latency, broker CPU per message
iothub syncs its write-ahead log for every acknowledged message (group commit); Mosquitto
(persistence off) acknowledges from memory and, with no subscriber, drops the message.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

API = "api-version=2021-04-12"


def sas_token(resource_uri, key_b64, key_name=None, ttl=7200):
    """A SAS token as the SDKs make it (PROTOCOL.md): sr URL-encoded, HMAC-SHA256 over sr\\nse."""
    sr = urllib.parse.quote(resource_uri, safe="")
    se = str(int(time.time()) + ttl)
    digest = hmac.new(base64.b64decode(key_b64), f"{sr}\n{se}".encode(), hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(digest).decode(), safe="")
    token = f"SharedAccessSignature sr={sr}&sig={sig}&se={se}"
    if key_name:
        token += "&skn=" + urllib.parse.quote(key_name, safe="")
    return token


def free_port(address, taken):
    while True:
        with socket.socket() as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def can_connect(address, port):
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc):
    """SIGTERM, then the exit status (or a note that it had to be killed)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "killed after 30 s"


class Hub:
    """iothubd on its own address and data directory."""

    def __init__(self, binary, workdir, address):
        self.address = address
        self.data = os.path.join(workdir, "hub-data")
        taken = set()
        self.mqtt_port = free_port(address, taken)
        self.plain_port = free_port(address, taken)
        self.https_port = free_port(address, taken)
        self.out_path = os.path.join(workdir, "iothubd.out")
        self.err_path = os.path.join(workdir, "iothubd.err")
        self.args = [binary, "--data-dir", self.data, "--hostname", address, "--bind", address,
                     "--mqtt-port", str(self.mqtt_port), "--plain-mqtt-port", str(self.plain_port),
                     "--https-port", str(self.https_port), "--amqp-port", "0"]
        self.statuses = []
        self.conn = None
        self.start()
        strings = json.load(open(os.path.join(self.data, "connection-strings.json")))
        fields = dict(p.split("=", 1) for p in strings["iothubowner"].split(";") if p)
        self.owner_key = fields["SharedAccessKey"]
        self.ca = os.path.join(self.data, "tls", "ca.pem")
        self.cert = os.path.join(self.data, "tls", "server.pem")
        self.key = os.path.join(self.data, "tls", "server.key")

    def start(self):
        # The log is appended to across restarts; stdout starts afresh (the banner marks ready).
        self.proc = subprocess.Popen(self.args, stdout=open(self.out_path, "w"),
                                     stderr=open(self.err_path, "a"))
        wait_for(lambda: self._ready(), 60, "iothubd to start (see " + self.err_path + ")")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("iothubd exited: " + open(self.err_path).read()[-2000:])
        return "Stop with Ctrl-C or SIGTERM." in open(self.out_path).read()

    def rest(self, method, path, body=None):
        if self.conn is None:
            context = ssl.create_default_context(cafile=self.ca)
            self.conn = http.client.HTTPSConnection(self.address, self.https_port,
                                                    context=context, timeout=60)
        token = sas_token(self.address, self.owner_key, "iothubowner")
        headers = {"Authorization": token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        sep = "&" if "?" in path else "?"
        self.conn.request(method, path + sep + API, body=data, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        return response.status, text

    def create_devices(self, ids):
        """Bulk import, 100 a call (keys generated by the registry), then each key read back."""
        for i in range(0, len(ids), 100):
            batch = [{"id": d, "importMode": "create", "status": "enabled",
                      "authentication": {"type": "sas"}} for d in ids[i:i + 100]]
            status, text = self.rest("POST", "/devices", batch)
            if status != 200 or not json.loads(text).get("isSuccessful"):
                raise RuntimeError(f"bulk import failed: {status} {text[:500]}")
        keys = {}
        for d in ids:
            status, text = self.rest("GET", "/devices/" + d)
            if status != 200:
                raise RuntimeError(f"GET /devices/{d}: {status} {text[:300]}")
            keys[d] = json.loads(text)["authentication"]["symmetricKey"]["primaryKey"]
        return keys

    def metric(self, name):
        """Sum of the samples of a metric at /metrics (None when not found)."""
        status, text = self.rest("GET", "/metrics")
        if status != 200:
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(name) and (len(line) == len(name) or line[len(name)] in " {"):
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
        return total

    def stop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.statuses.append(stop_process(self.proc))

    def restart(self):
        self.stop()
        self.start()

    def log_lines(self, level):
        with open(self.err_path, errors="replace") as f:
            return [line.rstrip() for line in f if f" {level} " in line]


class Mosquitto:
    """Mosquitto on its own address, TLS with the hub's certificate and key."""

    def __init__(self, workdir, address, hub):
        self.address = address
        taken = set()
        self.plain_port = free_port(address, taken)
        self.mqtt_port = free_port(address, taken)
        self.log_path = os.path.join(workdir, "mosquitto.log")
        self.out_path = os.path.join(workdir, "mosquitto.out")
        self.conf = os.path.join(workdir, "mosquitto.conf")
        self.statuses = []
        lines = [
            "per_listener_settings false",
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error", "log_type warning",
            "connection_messages false",
            f"listener {self.plain_port} {address}",
            f"listener {self.mqtt_port} {address}",
            f"certfile {hub.cert}",
            f"keyfile {hub.key}",
        ]
        if os.getuid() == 0:
            # Else it switches to the user mosquitto, who cannot read the hub's key (0600).
            lines.insert(0, "user root")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.version = subprocess.run(["mosquitto", "-h"], capture_output=True,
                                      text=True).stdout.splitlines()[0]
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf],
                                     stdout=open(self.out_path, "a"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is None and can_connect(self.address, self.mqtt_port)
                 and can_connect(self.address, self.plain_port), 20, "mosquitto to start")

    def stop(self):
        self.statuses.append(stop_process(self.proc))

    def restart(self):
        self.stop()
        self.start()


def run_load(load, args, broker_pid, mode, tls, address, port, devices_file, ca, hub_host):
    cmd = [load, "--mode", mode, "--host", address, "--port", str(port), "--devices", devices_file,
           "--broker-pid", str(broker_pid), "--threads", str(args.load_threads),
           "--settle", str(args.settle)]
    if tls:
        cmd += ["--tls", "--ca", ca]
    if hub_host:
        cmd += ["--hub-host", hub_host]
    if mode == "idle":
        cmd += ["--connections", str(args.connections)]
    else:
        cmd += ["--publishers", str(args.publishers), "--window", str(args.window),
                "--payload", str(args.payload), "--seconds", str(args.seconds)]
    print("  $ " + " ".join(os.path.basename(c) if c == load else c for c in cmd), file=sys.stderr)
    done = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"mqtt_load failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def fmt(value, digits):
    return "-" if value is None else f"{value:,.{digits}f}"


def idle_rows(name, hub, mosq, rounds):
    rows = []
    for label, get, digits in [
        ("connections open", lambda r: r["connections_open"], 0),
        ("closed by the broker while idle (all rounds)", lambda r: r["all_dropped_while_idle"], 0),
        ("KiB per connection (RSS open - before)",
         lambda r: (r["rss_open_kib"] - r["rss_before_kib"]) / max(1, r["connections_open"]), 1),
        ("broker RSS before (MiB)", lambda r: r["rss_before_kib"] / 1024, 1),
        ("broker RSS with all open (MiB)", lambda r: r["rss_open_kib"] / 1024, 1),
        ("broker RSS after closing all (MiB)", lambda r: r["rss_closed_kib"] / 1024, 1),
        (f"RSS growth, round {rounds} all open vs round 1 (MiB)",
         lambda r: (r["last_rss_open_kib"] - r["rss_open_kib"]) / 1024, 1),
        ("connect rate (conn/s, CONNECT+SUBSCRIBE)",
         lambda r: r["connections_open"] / r["open_seconds"] if r["open_seconds"] else None, 0),
        ("broker CPU ms per connection open",
         lambda r: 1000 * r["broker_cpu_open_s"] / max(1, r["connections_open"]), 3),
    ]:
        a, b = get(hub), get(mosq)
        rows.append((name, label, fmt(a, digits), fmt(b, digits), ratio(a, b)))
    return rows


def telemetry_rows(name, hub, mosq):
    rows = []
    for label, get, digits in [
        ("msgs/s PUBACKed", lambda r: r.get("msgs_per_s"), 0),
        ("PUBACK latency p50 (ms)", lambda r: r.get("p50_ms"), 2),
        ("PUBACK latency p99 (ms)", lambda r: r.get("p99_ms"), 2),
        ("broker CPU (% of one core)",
         lambda r: 100 * r["broker_cpu_s"] / r["seconds"] if "broker_cpu_s" in r else None, 0),
        ("broker CPU us per message",
         lambda r: 1e6 * r["broker_cpu_s"] / r["acked_in_window"]
         if r.get("acked_in_window") else None, 1),
    ]:
        a, b = get(hub), get(mosq)
        rows.append((name, label, fmt(a, digits), fmt(b, digits), ratio(a, b)))
    return rows


def print_table(rows):
    head = ("test", "metric", "iothub", "mosquitto", "iothub/mosquitto")
    print("| " + " | ".join(head) + " |")
    print("|---|---|--:|--:|--:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--publishers", type=int, default=16)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--payload", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--settle", type=float, default=3,
                        help="seconds to wait before each RSS reading")
    parser.add_argument("--load-threads", type=int, default=1)
    parser.add_argument("--idle-rounds", type=int, default=2,
                        help="idle runs per broker process (growth after the first is reported)")
    parser.add_argument("--no-plain", action="store_true", help="TLS only")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < need:
        sys.exit(f"ulimit -n allows {hard} files; {need} are needed for {args.connections} "
                 "connections")

    iothubd = os.path.join(args.build_dir, "bin", "iothubd")
    load = os.path.join(args.build_dir, "bin", "mqtt_load")
    workdir = tempfile.mkdtemp(prefix="iothub-bench-mqtt-")
    hub_addr, mosq_addr = (f"127.0.0.{x}" for x in random.sample(range(2, 251), 2))
    hub = mosq = None
    results = {}
    try:
        print(f"bench mqtt: work dir {workdir}", file=sys.stderr)
        hub = Hub(iothubd, workdir, hub_addr)
        mosq = Mosquitto(workdir, mosq_addr, hub)
        count = max(args.connections, args.publishers)
        ids = [f"bench-{i:06d}" for i in range(count)]
        started = time.time()
        keys = hub.create_devices(ids)
        print(f"bench mqtt: {count} devices created and read back in "
              f"{time.time() - started:.1f} s", file=sys.stderr)
        hub_devices = os.path.join(workdir, "devices-iothub.txt")
        with open(hub_devices, "w") as f:
            f.writelines(f"{d} {keys[d]}\n" for d in ids)
        mosq_devices = os.path.join(workdir, "devices-mosquitto.txt")
        with open(mosq_devices, "w") as f:
            f.writelines(f"{d}\n" for d in ids)

        tests = [("idle", True)] + ([] if args.no_plain else [("idle", False)])
        tests += [("telemetry", True)] + ([] if args.no_plain else [("telemetry", False)])
        telemetry_stored = 0
        for i, (mode, tls) in enumerate(tests):
            name = f"{mode} {'TLS' if tls else 'plain'}"
            print(f"bench mqtt: {name}", file=sys.stderr)
            if i > 0:
                # Fresh processes for every test: what one test freed (and the allocator kept)
                # must not be reused by the next one's measurement.
                telemetry_stored += hub.metric("iothub_messages_received_total") or 0
                hub.restart()
                mosq.restart()
            # Idle runs --idle-rounds times on the same process: growth after the first round is
            # memory that closed connections did not give back for reuse.
            rounds = args.idle_rounds if mode == "idle" else 1
            pair = {}
            for broker, proc, addr, tls_port, plain_port, devices, hub_host in [
                    ("iothub", hub.proc, hub_addr, hub.mqtt_port, hub.plain_port, hub_devices,
                     hub_addr),
                    ("mosquitto", mosq.proc, mosq_addr, mosq.mqtt_port, mosq.plain_port,
                     mosq_devices, None)]:
                runs = [run_load(load, args, proc.pid, mode, tls, addr,
                                 tls_port if tls else plain_port, devices, hub.ca, hub_host)
                        for _ in range(rounds)]
                pair[broker] = dict(runs[0])
                if mode == "idle":
                    pair[broker]["rounds"] = runs
                    pair[broker]["last_rss_open_kib"] = runs[-1]["rss_open_kib"]
                    pair[broker]["all_dropped_while_idle"] = sum(
                        r["dropped_while_idle"] for r in runs)
                    errors = [f"round {k + 1}: {r['first_error']}"
                              for k, r in enumerate(runs) if r.get("first_error")]
                    if errors:
                        pair[broker]["first_error"] = errors[0]
            results[name] = pair
        telemetry_stored += hub.metric("iothub_messages_received_total") or 0
    finally:
        if hub:
            hub.stop()
        if mosq:
            mosq.stop()

    rows = []
    for name, pair in results.items():
        if name.startswith("idle"):
            rows += idle_rows(f"{name}, {args.connections} conns", pair["iothub"],
                              pair["mosquitto"], args.idle_rounds)
        else:
            rows += telemetry_rows(
                f"{name}, {args.publishers} pub x {args.window} window, {args.payload} B",
                pair["iothub"], pair["mosquitto"])

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# MQTT side by side, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"iothubd of {args.build_dir} (checkout at {commit} when run) vs {mosq.version}; "
          f"{os.cpu_count()} cores "
          f"({platform.processor() or platform.machine()}), loopback; load generator mqtt_load "
          f"with {args.load_threads} thread(s), on the same machine.")
    print("Durability differs: iothub acknowledges (PUBACK) a telemetry message once it is in "
          "its write-ahead log, synced to disk (group commit); Mosquitto runs with persistence "
          "false, acknowledges from memory and, with no subscriber, drops the message. Read the "
          "telemetry ratios as durable-vs-in-memory, not like for like.")
    print()
    print_table(rows)
    print()
    print(f"iothub_messages_received_total summed over the hub's runs: {telemetry_stored:.0f}")
    errors = hub.log_lines("error")
    warnings = hub.log_lines("warning")
    print(f"exit statuses: iothubd {hub.statuses}, mosquitto {mosq.statuses}; iothubd log: "
          f"{len(errors)} error and {len(warnings)} warning lines")
    for line in (errors + warnings)[:10]:
        print("  " + line[:300])
    for name, pair in results.items():
        for broker, r in pair.items():
            if r.get("first_error"):
                print(f"{name} / {broker}: first client error: {r['first_error']}")
    out = os.path.join(args.build_dir, "bench-mqtt.json")
    with open(out, "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=1)
    print(f"(raw results: {out})")
    if args.keep:
        print(f"(logs and data kept in {workdir})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
