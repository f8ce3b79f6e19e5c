"""Apache Kafka itself, for the tests and by hand: a single-node KRaft broker on a free
loopback port in a temp dir, its jars fetched once by Maven into a cache.

    python -m tests.apache_kafka          # fetch if needed, run one until Ctrl-C (make kafka)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.broker.embedded import free_port, wait_for_port

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
VERSION = "4.4.0"  # as in the pom; deploy/compose pins the same
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "partnerpulse" / f"kafka-{VERSION}"


def jars() -> Path:
    """The broker's class path folder, fetched with Maven on first use."""
    libs = CACHE / "libs"
    if (libs / f"kafka_2.13-{VERSION}.jar").exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError("Apache Kafka for the tests needs Java 17+ and Maven (apt-get install maven)")
    tmp = CACHE / "libs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp}"], check=True)  # fmt: skip
    tmp.replace(libs)
    return libs


def _properties(port: int, controller: int, data: Path) -> str:
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


class Broker:
    """One broker; `stop()` and `start()` again keep its log (it is on disk)."""

    def __init__(self, work: Path):
        self.work, self.port, self.controller = work, free_port(), free_port()
        self.config = work / "server.properties"
        self.config.write_text(_properties(self.port, self.controller, work / "data"))
        self.classpath = str(jars() / "*")
        subprocess.run(["java", "-cp", self.classpath, "kafka.tools.StorageTool", "format", "-t",
                        uuid.uuid4().hex[:22], "-c", str(self.config)], check=True, capture_output=True)  # fmt: skip
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Broker:
        log = open(self.work / "kafka.log", "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(["java", "-Xmx512m", "-cp", self.classpath, "kafka.Kafka", str(self.config)],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # fmt: skip
        wait_for_port("127.0.0.1", self.port, timeout=60, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def apache_kafka() -> Iterator[Broker]:
    work = Path(tempfile.mkdtemp(prefix="pp-kafka-"))
    broker = Broker(work).start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    with apache_kafka() as running:
        print(f"Apache Kafka {VERSION} at {running.bootstrap} — Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
