#!/usr/bin/env python3
"""Stage breakdown of a bench/pipeline run.

Usage: stages.py SAMPLES KAFKA_BOOTSTRAP [CHANGES_TOPIC DELIVERIES_TOPIC]

SAMPLES is pipeload's --samples file (one line per write: i send_us response_us status id
first_recv_us last_recv_us receivers). Reads both topics from the beginning (the bench's
Kafka is its own, fresh), finds each write's change event and delivery by its word
"pl-<run>-<i>" (run: the file's "# run N" header), and prints, as Markdown, p50/p99/max of each stage in ms:

  REST answer        send -> 201 received by the writer
  to changes topic   send -> Kafka timestamp of the change event (outbox relay produce())
  relay after answer 201/commit received -> Kafka timestamp of the change event (the relay's
                     own share: wake-up, read, produce; negative when it beat the answer)
  authz              change timestamp -> delivery timestamp (authz produce())
  pusher to 1st      delivery timestamp -> first subscriber received it
  fan-out spread     first -> last subscriber
  end to end (last)  send -> last subscriber

Kafka timestamps are CreateTime (set by the producing client when it calls produce), in
ms: stages next to them carry +-1 ms of rounding. Reading is bounded (60 s).
"""
import re
import sys
import time

from confluent_kafka import Consumer, TopicPartition


def pctl(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def read_topic(bootstrap, topic, pattern, deadline_s=60):
    """{write index: Kafka timestamp ms} for records whose value matches pattern."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-pipeline-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    md = c.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
    ends = {}
    for tp in parts:
        lo, hi = c.get_watermark_offsets(tp, timeout=10)
        tp.offset = lo
        ends[tp.partition] = hi
    c.assign(parts)
    done = {p for p, hi in ends.items() if hi == 0}
    out = {}
    deadline = time.monotonic() + deadline_s
    while len(done) < len(ends) and time.monotonic() < deadline:
        for m in c.consume(1000, timeout=1.0):
            if m.error():
                continue
            hit = pattern.search(m.value() or b"")
            if hit:
                out.setdefault(int(hit.group(1)), m.timestamp()[1])
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    c.close()
    return out


def main():
    samples_path, bootstrap = sys.argv[1], sys.argv[2]
    changes = sys.argv[3] if len(sys.argv) > 3 else "modelcast.changes"
    deliveries = sys.argv[4] if len(sys.argv) > 4 else "modelcast.deliveries"
    rows = []
    run = 0
    with open(samples_path) as f:
        for line in f:
            if line.startswith("# run "):
                run = int(line.split()[2])
                continue
            i, send, resp, status, rid, first, last, n = (int(x) for x in line.split())
            rows.append((i, send, resp, status, rid, first, last, n))
    word = re.compile(b'"pl-%d-(\\d+)"' % run)
    ch_raw = read_topic(bootstrap, changes, word)
    dl_raw = read_topic(bootstrap, deliveries, word)
    stages = {k: [] for k in ("rest", "to_changes", "relay", "authz", "pusher_first", "spread", "e2e")}
    missing_ch = missing_dl = 0
    for i, send, resp, status, rid, first, last, n in rows:
        if not 200 <= status < 300:
            continue
        send_ms = send / 1000.0
        stages["rest"].append((resp - send) / 1000.0)
        ch, dl = ch_raw.get(i), dl_raw.get(i)
        if ch is None:
            missing_ch += 1
        else:
            stages["to_changes"].append(ch - send_ms)
            stages["relay"].append(ch - resp / 1000.0)
        if dl is None:
            missing_dl += 1
        elif ch is not None:
            stages["authz"].append(dl - ch)
        if first and dl is not None:
            stages["pusher_first"].append(first / 1000.0 - dl)
        if first and last:
            stages["spread"].append((last - first) / 1000.0)
            stages["e2e"].append((last - send) / 1000.0)
    names = [("rest", "REST answer (send → 201)"),
             ("to_changes", "send → change in Kafka (commit, relay, produce)"),
             ("relay", "answer → change in Kafka (the relay's share; ±1 ms)"),
             ("authz", "change → delivery in Kafka (authz)"),
             ("pusher_first", "delivery → first subscriber (pusher)"),
             ("spread", "first → last subscriber (fan-out of %s)"
              % f"{max((r[7] for r in rows), default=0):,}"),
             ("e2e", "send → last subscriber")]
    print("| stage | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for key, label in names:
        v = stages[key]
        if v:
            print(f"| {label} | {len(v)} | {pctl(v, .5):.2f} | {pctl(v, .99):.2f} | {max(v):.2f} |")
        else:
            print(f"| {label} | 0 | – | – | – |")
    if missing_ch or missing_dl:
        print(f"\n(not found in Kafka: {missing_ch} change events, {missing_dl} deliveries)")


if __name__ == "__main__":
    main()
