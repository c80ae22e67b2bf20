import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Settings } from '../../config/settings.ts';
import { sketchStandardError } from '../../domain/aggregations/distinct-sketch.ts';
import type { MatchEvent } from '../../samples/sample-commands.ts';
import { sampleEventLogTables } from '../../samples/sample-sources.ts';
import { deadLetterTopicOf } from '../../streaming/commands/command-kafka.ts';
import { CommandProducer } from '../../streaming/commands/command-producer.ts';
import { commandConsumerWorkflowId, eventGroupOf } from '../../workflow-contract/command-consumer-ids.ts';
import {
  consumerHeartbeat,
  dropDataset,
  dropKeyspace,
  eventually,
  groupProgress,
  kafkaAdmin,
  openStores,
  type Stores,
  temporalClient,
  testEnv,
  testSettings,
  uniqueNames,
} from './commands-harness.ts';
import { type FerryProcess, root, runFerry, spawnFerryReader, spawnFerryWorker } from './ferry-process.ts';
import { requireServer } from './servers.ts';

// Features fed straight from domain events (issue 17), as users run them: `ferry apply` of the
// seed's from_events rules starts one consumer per topic on the shipped `ferry worker`; the test
// publishes the product's events (not commands) to Kafka and reads the values back through
// `ferry serve`, against Cassandra and the BigQuery emulator (dead letters).

const names = uniqueNames('events');
const tag = `${process.pid}_${Date.now()}`;
const topics = {
  cdc: `azar_user_cdc_${tag}`,
  live: `live_room_event_${tag}`,
  match: `azar_match_event_${tag}`,
  login: `azar_user_login_${tag}`,
};
const taskQueue = `ferry-events-${randomUUID()}`;
const project = mkdtempSync(path.join(tmpdir(), 'ferry-events-'));
const featuresDir = path.join(project, 'features');
let metricsPort = 0;
let env: Record<string, string>;
let settings: Settings;
let stores: Stores;
let admin: Admin;
let worker: FerryProcess;
let reader: FerryProcess & { url: string };
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let client: Client;
const producers = new Map<string, CommandProducer>();
const auth = { authorization: 'Bearer ferry-sample-app-token' };

/** The repository's features/ with the event topics renamed for this run (topics are global names). */
function writeFeatures(edit: (yaml: string, file: string) => string = (y) => y): void {
  cpSync(path.join(root, 'features'), featuresDir, { recursive: true });
  for (const file of ['azar.yaml', 'live.yaml', 'azar-match.yaml']) {
    const p = path.join(featuresDir, file);
    const yaml = readFileSync(p, 'utf8')
      .replaceAll('topic: azar_user_cdc', `topic: ${topics.cdc}`)
      .replaceAll('topic: live_room_event', `topic: ${topics.live}`)
      .replaceAll('topic: azar_match_event', `topic: ${topics.match}`)
      .replaceAll('topic: azar_user_login', `topic: ${topics.login}`);
    writeFileSync(p, edit(yaml, file));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function ferry(...args: string[]) {
  const r = await runFerry(args, env);
  return { ...r, out: `${r.stdout}${r.stderr}` };
}

async function startWorker(): Promise<FerryProcess> {
  const w = spawnFerryWorker(env, taskQueue);
  await w.ready;
  return w;
}

/** Publishes raw event values (JSON text, or anything) to a topic, keyed by nothing: as a product backend might. */
async function publish<T extends string | Buffer | object>(
  topic: string,
  values: T[],
  keyOf: (v: T) => string | null = () => null,
): Promise<void> {
  let p = producers.get(topic);
  if (p === undefined) {
    p = await CommandProducer.connect({ brokers: [env.FERRY_KAFKA_BROKERS!], topic });
    producers.set(topic, p);
  }
  for (let i = 0; i < values.length; i += 2_000)
    await p.sendMessages(
      values.slice(i, i + 2_000).map((v) => ({
        key: keyOf(v),
        value: typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v),
      })),
    );
}

async function get(urlPath: string) {
  const res = await fetch(`${reader.url}${urlPath}`, { headers: auth });
  return (await res.json()) as Record<string, unknown> & { values?: Record<string, unknown> };
}

async function workerMetric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && want.every((w) => line.includes(w)))
      sum += Number(line.split(' ').pop());
  return sum;
}

const liveWorkflow = () => commandConsumerWorkflowId(topics.live, eventGroupOf(topics.live));

beforeAll(async () => {
  for (const s of ['kafka', 'cassandra', 'temporal', 'bigquery'] as const) await requireServer(s);
  metricsPort = await freePort();
  writeFeatures();
  env = {
    ...testEnv(names),
    FERRY_TEMPORAL_TASK_QUEUE: taskQueue,
    FERRY_FEATURES_DIR: featuresDir,
    FERRY_SQL_DIR: path.join(root, 'sql'),
    FERRY_TOKENS_FILE: path.join(root, 'tokens.yaml'),
    FERRY_READER_THREADS: '1',
    // fresh reads: the test reads right after the consumer wrote
    FERRY_READER_CACHE_MB: '0',
    FERRY_WORKER_METRICS_PORT: String(metricsPort),
  };
  settings = testSettings(names);
  admin = await kafkaAdmin();
  temporal = await temporalClient();
  client = temporal.client;
  worker = await startWorker();
  // as an operator does it: apply, which makes the topics and starts one consumer per topic
  const applied = await ferry('apply');
  expect(applied.code, applied.out).toBe(0);
  for (const t of Object.values(topics))
    expect(applied.out).toContain(`event consumer commands/${t}/ferry-events-${t}`);
  stores = await openStores(settings);
  reader = await spawnFerryReader(env, ['--threads', '1']);
}, 240_000);

afterAll(async () => {
  for (const t of Object.values(topics))
    await ferry('downsync', 'stop', '--topic', t, '--group', eventGroupOf(t)).catch(() => {});
  for (const p of producers.values()) await p.close().catch(() => {});
  await reader?.stop();
  if (worker) await worker.stop();
  await temporal?.close();
  if (admin) {
    const all = Object.values(topics).flatMap((t) => [t, deadLetterTopicOf(t)]);
    await admin.deleteTopics({ topics: all }).catch(() => {});
    await admin.disconnect();
  }
  if (stores) {
    await dropDataset(stores.offline).catch(() => {});
    await stores.close();
  }
  await dropKeyspace(names.keyspace).catch(() => {});
}, 180_000);

describe('features fed from domain events (Kafka, the shipped worker, Cassandra)', () => {
  it('the seed’s three statements end to end; late and repeated events do not win', async () => {
    const t = Date.now() - 60_000;
    await publish(topics.cdc, [
      { userId: 810_001, userLevel: 7, timestampMillis: t },
      { userId: 810_001, userLevel: 3, timestampMillis: t - 1_000 }, // late: older than the first
      { userId: 810_001, userLevel: 7, timestampMillis: t }, // the first again
    ]);
    const room = `ev-room-${tag}`;
    await publish(topics.live, [
      { liveRoomId: room, userId: 1, participantType: 'HOST', eventType: 'ENTRANCE', timestampMillis: t },
      {
        liveRoomId: room,
        userId: 2,
        participantType: 'GUEST',
        eventType: 'ENTRANCE',
        timestampMillis: t + 1_000,
      },
      {
        liveRoomId: room,
        userId: 2,
        participantType: 'GUEST',
        eventType: 'LEAVE',
        timestampMillis: t + 5_000,
      },
      // late: an ENTRANCE older than the LEAVE
      {
        liveRoomId: room,
        userId: 3,
        participantType: 'GUEST',
        eventType: 'ENTRANCE',
        timestampMillis: t + 3_000,
      },
    ]);
    await publish(topics.match, [
      {
        matchId: 'm1',
        userId: 810_001,
        peerUserId: 42,
        chat_duration: 61,
        peerCountryCode: 'KR',
        timestampMillis: t,
      },
      {
        matchId: 'm1',
        userId: 810_001,
        peerUserId: 42,
        chat_duration: 61,
        peerCountryCode: 'KR',
        timestampMillis: t,
      },
      {
        matchId: 'm2',
        userId: 810_001,
        peerUserId: 43,
        chat_duration: '5',
        timestampMillis: new Date(t + 10).toISOString(),
      },
    ]);
    const profile = await eventually('user-profile.level from azar_user_cdc', 90_000, async () => {
      const r = await get('/v1/features/azar::user-profile/810001');
      return r.found ? r : undefined;
    });
    expect(profile).toMatchObject({ values: { level: 7 }, _last_updated_at_ms: t });
    await eventually('has_guest false after the LEAVE', 90_000, async () => {
      const r = await get(`/v1/features/live::live-room-context/${room}`);
      return r._last_updated_at_ms === t + 5_000 ? r : undefined;
    });
    // the late ENTRANCE was applied after the LEAVE (same partition, later offset) and lost
    await eventually('the late entrance consumed', 60_000, async () =>
      (await groupProgress(admin, eventGroupOf(topics.live), topics.live)).committed >= 4 ? true : undefined,
    );
    expect(await get(`/v1/features/live::live-room-context/${room}`)).toMatchObject({
      values: { has_guest: false },
      _last_updated_at_ms: t + 5_000,
    });
    const matches = await eventually('two recent matches', 90_000, async () => {
      const r = (await get('/v1/features/azar-match::recent-matches/810001')) as {
        entries?: { values: Record<string, unknown> }[];
      };
      return r.entries?.length === 2 ? r.entries : undefined;
    });
    expect(matches.map((e) => e.values)).toEqual([
      { peer_user_id: 43, chat_duration_sec: 5, peer_country_code: 'XX' },
      { peer_user_id: 42, chat_duration_sec: 61, peer_country_code: 'KR' },
    ]);
    // the HOST entrance matched no rule: counted as skipped, per feature
    expect(
      await workerMetric('ferry_worker_events_total', {
        feature: 'live::live-room-context',
        outcome: 'skipped',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await workerMetric('ferry_worker_events_total', {
        feature: 'live::live-room-context',
        rule: 'guest-leave',
        outcome: 'mapped',
      }),
    ).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it('hostile events: a counted skip or a dead letter with its reason; what is stored does not change; the consumer goes on', async () => {
    const t = Date.now() - 30_000;
    const room = `ev-hostile-${tag}`;
    const good = {
      liveRoomId: room,
      userId: 2,
      participantType: 'GUEST',
      eventType: 'ENTRANCE',
      timestampMillis: t,
    };
    await publish(topics.live, [good]);
    await eventually('the good entrance', 90_000, async () =>
      (await get(`/v1/features/live::live-room-context/${room}`)).found ? true : undefined,
    );
    const skippedBefore = await workerMetric('ferry_worker_events_total', {
      feature: 'live::live-room-context',
      outcome: 'skipped',
    });
    let deep: object = { liveRoomId: room };
    for (let i = 0; i < 3_000; i++) deep = { payload: deep };
    const leave = { ...good, eventType: 'LEAVE' };
    const hostile: (string | object)[] = [
      `not json at all ${room}`, // dead letter: not valid JSON
      `{"liveRoomId": "${room}", `, // dead letter: not valid JSON
      '', // dead letter: empty
      JSON.stringify([1, 2, 3]), // skipped: matches no rule
      '7', // skipped
      deep, // skipped: deep nesting, no rule's fields
      { ...leave, pad: 'x'.repeat(900_000) }, // a huge event under the topic's limit: mapped
      { ...leave, liveRoomId: { id: room } }, // dead letter: an object as a key
      { ...leave, liveRoomId: 12345, note: room }, // dead letter: a number where text is needed
      { ...leave, timestampMillis: 'soon' }, // dead letter: unparsable time
      { ...leave, timestampMillis: Date.now() + 86_400_000 }, // dead letter: in the future
      { ...leave, timestampMillis: -5 }, // dead letter: before 1970
      { ...leave, participantType: 7, eventType: ['LEAVE'] }, // skipped: wrong types in the filter
    ];
    // one request each: the huge one must not share a record batch (the broker's limit is per batch)
    for (const h of hostile) await publish(topics.live, [h]);
    // then a valid LEAVE, newer: applied after all of them
    await publish(topics.live, [{ ...leave, timestampMillis: t + 10_000 }]);
    await eventually('the last LEAVE applied', 120_000, async () => {
      const r = await get(`/v1/features/live::live-room-context/${room}`);
      return r._last_updated_at_ms === t + 10_000 ? r : undefined;
    });
    const letters = await eventually('eight dead letters', 120_000, async () => {
      const l = (await stores.offline.readDeadLetters('live::live-room-context')).filter(
        (d) => d.origin === 'event' && (d.payload.includes(room) || d.payload === ''),
      );
      return new Set(l.map((d) => d.id)).size >= 8 ? l : undefined;
    });
    const reasons = [...new Map(letters.map((d) => [d.id, d.reason])).values()];
    const expected = [
      /^empty message/,
      /^not valid JSON/,
      /^not valid JSON/,
      /rule guest-leave: keys\.live_room_id: an object cannot be stored/,
      /rule guest-leave: keys\.live_room_id: expected Text, got 12345/,
      /rule guest-leave: event_time: expected a time/,
      /rule guest-leave: event_time: .* minutes ahead of now/,
      /rule guest-leave: event_time: -5 is not after 1970/,
    ];
    expect(reasons).toHaveLength(expected.length);
    for (const re of expected)
      expect(reasons.filter((r) => re.test(r)).length, String(re)).toBe(
        expected.filter((x) => String(x) === String(re)).length,
      );
    expect(
      (await workerMetric('ferry_worker_events_total', {
        feature: 'live::live-room-context',
        outcome: 'skipped',
      })) - skippedBefore,
    ).toBeGreaterThanOrEqual(4);
    // the huge LEAVE (t) lost to the newer one; nothing else changed the room
    expect(await get(`/v1/features/live::live-room-context/${room}`)).toMatchObject({
      values: { has_guest: false },
      _last_updated_at_ms: t + 10_000,
    });
  }, 300_000);

  it('a rule changed with ferry apply: plan shows the diff, the consumer keeps its position and uses the new rule', async () => {
    writeFeatures((yaml, file) =>
      file === 'live.yaml'
        ? yaml.replace(
            "when: participantType = 'GUEST' AND eventType = 'ENTRANCE'",
            "when: participantType IN ('GUEST', 'COHOST') AND eventType = 'ENTRANCE'",
          )
        : yaml,
    );
    const plan = await ferry('plan');
    expect(plan.out).toContain(
      `~ from_events.rules.guest-entrance.when: "participantType = 'GUEST' AND eventType = 'ENTRANCE'" → "participantType IN ('GUEST', 'COHOST') AND eventType = 'ENTRANCE'"`,
    );
    const before = await eventually('the topic consumed so far', 60_000, async () => {
      const p = await groupProgress(admin, eventGroupOf(topics.live), topics.live);
      return p.committed === p.end ? p : undefined;
    });
    const received = await workerMetric('ferry_worker_messages_received_total', { topic: topics.live });
    const applied = await ferry('apply');
    expect(applied.code, applied.out).toBe(0);
    const room = `ev-cohost-${tag}`;
    // the consumer reloads the applied rules within 30 s: send until the new rule takes it
    const t = Date.now() - 10_000;
    let n = 0;
    await eventually('a COHOST entrance mapped by the new rule', 120_000, async () => {
      await publish(topics.live, [
        {
          liveRoomId: room,
          userId: 9,
          participantType: 'COHOST',
          eventType: 'ENTRANCE',
          timestampMillis: t + n++,
        },
      ]);
      return (await get(`/v1/features/live::live-room-context/${room}`)).found ? true : undefined;
    });
    // the position was kept: once everything is committed, the group has received the events
    // published since the apply and nothing before them again
    await eventually('all committed', 60_000, async () => {
      const p = await groupProgress(admin, eventGroupOf(topics.live), topics.live);
      return p.committed === p.end ? p : undefined;
    });
    const after = await groupProgress(admin, eventGroupOf(topics.live), topics.live);
    expect(after.committed).toBe(before.committed + n);
    const receivedAfter = await workerMetric('ferry_worker_messages_received_total', { topic: topics.live });
    expect(receivedAfter - received).toBe(n);
  }, 240_000);

  it('ferry replay re-runs the rules on an event’s dead letter once the definition is fixed', async () => {
    const t = Date.now() - 20_000;
    // the CDC stream starts sending `level` instead of `userLevel`: the rule cannot map it
    await publish(topics.cdc, [{ userId: 810_002, level: 12, timestampMillis: t }]);
    await eventually('the dead letter', 120_000, async () => {
      const l = await stores.offline.readDeadLetters('azar::user-profile');
      return l.some((d) => d.origin === 'event' && d.payload.includes('810002')) ? true : undefined;
    });
    writeFeatures((yaml, file) =>
      file === 'azar.yaml' ? yaml.replace('level: userLevel', 'level: COALESCE(userLevel, level)') : yaml,
    );
    expect((await ferry('apply')).code).toBe(0);
    const replay = await ferry('replay', 'azar::user-profile', '--wait', '--json');
    expect(replay.code, replay.out).toBe(0);
    expect(await get('/v1/features/azar::user-profile/810002')).toMatchObject({
      values: { level: 12 },
      _last_updated_at_ms: t,
    });
    const left = await stores.offline.readDeadLetters('azar::user-profile');
    expect(left.filter((d) => d.payload.includes('810002'))).toEqual([]);
  }, 240_000);

  it('ferry events backfill runs the rules over the events kept in the warehouse (the emulator), on the worker', async () => {
    const table = `raw_live_room_events_${tag}`;
    const T = { kind: 'scalar', scalar: 'Text' } as const;
    const L = { kind: 'scalar', scalar: 'Long' } as const;
    await stores.offline.ensureTable(table, [
      { name: 'liveRoomId', type: T },
      { name: 'participantType', type: T },
      { name: 'eventType', type: T },
      { name: 'timestampMillis', type: L },
    ]);
    const t = Date.now() - 7_200_000;
    const rows = Array.from({ length: 30 }, (_, i) => ({
      liveRoomId: `bf-${tag}-${i % 10}`,
      participantType: 'GUEST',
      eventType: i < 20 ? 'ENTRANCE' : 'LEAVE',
      timestampMillis: t + i * 1_000,
    }));
    await stores.offline.appendRows(table, rows);
    writeFeatures((yaml, file) =>
      file === 'live.yaml'
        ? yaml.replace(
            `    topic: ${topics.live}\n    event_time: timestampMillis\n`,
            `    topic: ${topics.live}\n    event_time: timestampMillis\n    backfill:\n      table: ${table}\n`,
          )
        : yaml,
    );
    const applied = await ferry('apply');
    expect(applied.code, applied.out).toBe(0);
    const r = await ferry(
      'events',
      'backfill',
      'live-room-context',
      '--from',
      String(t),
      '--to',
      String(t + 60_000),
      '--wait',
      '--json',
    );
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ result: { state: 'done', rowsRead: 30, rowsWritten: 30 } });
    // rooms 0-9: entrances at i, leaves at 20+i: every room ends with its leave
    for (let k = 0; k < 10; k++)
      expect(await get(`/v1/features/live::live-room-context/bf-${tag}-${k}`)).toMatchObject({
        values: { has_guest: false },
        _last_updated_at_ms: t + (20 + k) * 1_000,
      });
  }, 240_000);

  it('ferry events backfill gives an Aggregation its history from the warehouse (the emulator): live first, then the month before, each event counted once', async () => {
    const now = Date.now();
    const DAY = 86_400_000;
    // users 930000-930019 have live matches (the last day, through Kafka); 940000-940009 none yet.
    // The warehouse keeps every match of 40 days, the live ones too. No event within an hour of a
    // window's edge at the time of the read, so the values do not depend on when it happens.
    const rows: MatchEvent[] = [];
    let n = 0;
    const add = (userId: number, t: number) =>
      rows.push({
        matchId: `hist-${tag}-${n++}`,
        userId,
        peerUserId: (userId * 13 + n) % 97,
        chat_duration: (userId + n * 7) % 500,
        peerCountryCode: 'KR',
        timestampMillis: t,
      });
    const users = [
      ...Array.from({ length: 20 }, (_, i) => 930_000 + i),
      ...Array.from({ length: 10 }, (_, i) => 940_000 + i),
    ];
    for (const u of users) {
      for (let k = 0; k < 150; k++) {
        const t = now - 40 * DAY + k * 6 * 3_600_000 + (u % 1000) * 1_000;
        if (t > now - DAY || Math.abs(t - (now - 30 * DAY)) < 3_600_000) continue;
        add(u, t);
      }
      if (u < 940_000)
        for (let k = 0; k < 10; k++) add(u, now - DAY + 3_600_000 + k * 3_600_000 + (u % 1000));
    }
    const live = rows
      .filter((r) => r.timestampMillis > now - DAY)
      .sort((a, b) => a.timestampMillis - b.timestampMillis);
    const group = eventGroupOf(topics.match);
    // keyed by user, as a match backend publishes them: a user's matches stay in order
    await publish(topics.match, live, (e) => String(e.userId));
    await eventually('the live matches consumed', 180_000, async () => {
      const p = await groupProgress(admin, group, topics.match);
      return p.committed >= p.end ? p : undefined;
    });
    await stores.offline.ensureTable('raw_azar_match_event', sampleEventLogTables.raw_azar_match_event);
    await stores.offline.appendRows('raw_azar_match_event', rows as unknown as Record<string, unknown>[]);
    const backfill = async () => {
      const r = await ferry(
        'events',
        'backfill',
        'match-stats',
        '--from',
        String(now - 45 * DAY),
        '--to',
        String(now),
        '--wait',
        '--json',
      );
      expect(r.code, r.out).toBe(0);
      return JSON.parse(r.stdout).result as { state: string; rowsRead: number; rowsWritten: number };
    };
    // the history counts what came before each user's first live match: all but the live ones
    expect(await backfill()).toMatchObject({
      state: 'done',
      rowsRead: rows.length,
      rowsWritten: rows.length - live.length,
    });
    const check = async () => {
      const res = await fetch(`${reader.url}/v1/features/lookup`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ feature: 'azar-match::match-stats', keys: users }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { results: { rows: { values: Record<string, number> }[] }[] };
      const t = Date.now();
      body.results[0]!.rows.forEach((row, j) => {
        const mine = rows.filter((r) => r.userId === users[j]);
        const month = mine.filter((r) => r.timestampMillis > t - 30 * DAY);
        const want = {
          match_count_lifetime: mine.length,
          chat_seconds_lifetime: mine.reduce((sum, r) => sum + r.chat_duration, 0),
          avg_chat_duration_30d: month.reduce((sum, r) => sum + r.chat_duration, 0) / month.length,
          match_count_1h: 0,
        };
        for (const [name, v] of Object.entries(want))
          expect(row.values[name], `user ${users[j]} ${name}`).toBeCloseTo(v, 9);
        // past 64 values a HyperLogLog: within three standard errors (1.6%)
        const peers = new Set(month.map((r) => r.peerUserId)).size;
        expect(
          Math.abs(row.values.distinct_peers_30d! - peers),
          `user ${users[j]} distinct peers`,
        ).toBeLessThanOrEqual(Math.ceil(3 * sketchStandardError * peers));
      });
    };
    await check();
    // a second run of the same range: nothing counted twice
    expect(await backfill()).toMatchObject({ state: 'done', rowsWritten: 0 });
    await check();
  }, 600_000);

  it('a worker killed (SIGKILL) in the middle of 100,000 events: after the restart every value is online, no dead letter twice', async () => {
    const rooms = 2_000;
    const base = Date.now() - 3_600_000;
    // 50 events per room, alternating entrance and leave, times rising; about one in 1,000 bad (at
    // most one per room: 997 is prime to the 2,000 rooms)
    const events: object[] = [];
    let bad = 0;
    for (let i = 0; i < 100_000; i++) {
      const r = i % rooms;
      const k = Math.floor(i / rooms);
      const isBad = i % 997 === 996;
      if (isBad) bad++;
      events.push({
        liveRoomId: `kill-${tag}-${r}`,
        userId: k,
        participantType: 'GUEST',
        eventType: k % 2 === 0 ? 'ENTRANCE' : 'LEAVE',
        timestampMillis: isBad ? 'not a time' : base + k * 1_000,
      });
    }
    const group = eventGroupOf(topics.live);
    const start = await groupProgress(admin, group, topics.live);
    const producing = publish(topics.live, events);
    const atKill = await eventually('20,000 events committed', 300_000, async () => {
      const p = await groupProgress(admin, group, topics.live);
      return p.committed - start.committed >= 20_000 ? p : undefined;
    });
    const beat = await consumerHeartbeat(client, liveWorkflow());
    expect(await worker.stop('SIGKILL')).toBeNull();
    worker = await startWorker();
    await producing;
    await eventually('the consumer restarted', 180_000, async () => {
      const h = await consumerHeartbeat(client, liveWorkflow());
      return h && beat && h.attempt > beat.attempt ? h : undefined;
    });
    const end = start.end + 100_000;
    await eventually('every offset committed', 400_000, async () => {
      const p = await groupProgress(admin, group, topics.live);
      return p.committed >= end ? p : undefined;
    });
    // the last event of each room: k = 49 (a LEAVE), unless it was a bad one
    const expected = (r: number) => {
      for (let k = 49; k >= 0; k--) if ((k * rooms + r) % 997 !== 996) return { k, guest: k % 2 === 0 };
      throw new Error('no good event');
    };
    for (let r0 = 0; r0 < rooms; r0 += 100) {
      const ids = Array.from({ length: 100 }, (_, j) => `kill-${tag}-${r0 + j}`);
      const res = await fetch(`${reader.url}/v1/features/lookup`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ feature: 'live::live-room-context', keys: ids }),
      });
      const body = (await res.json()) as {
        results: { rows: { values: { has_guest: boolean }; _last_updated_at_ms: number }[] }[];
      };
      body.results[0]!.rows.forEach((row, j) => {
        const e = expected(r0 + j);
        expect(row, ids[j]).toMatchObject({
          values: { has_guest: e.guest },
          _last_updated_at_ms: base + e.k * 1_000,
        });
      });
    }
    const letters = (await stores.offline.readDeadLetters('live::live-room-context')).filter((d) =>
      d.payload.includes(`kill-${tag}-`),
    );
    const ids = new Set(letters.map((d) => d.id));
    expect(ids.size).toBe(bad);
    // the uncommitted tail read again after the kill refused the same events again: kept once
    expect(letters).toHaveLength(bad);
    console.log(
      `events kill test: killed at ${atKill.committed - start.committed} of 100000 committed; ${bad} dead letters (${letters.length} rows)`,
    );
  }, 900_000);
  it('Aggregation from match events: exact as of the read, and after a SIGKILL mid-stream the counts equal a brute force', async () => {
    const users = 300;
    const perUser = 200;
    const now = Date.now();
    // per user: 200 matches, 190 spread over the last 3 days (older than 15 minutes) and 10 in the last
    // 5 minutes, so the 10-minute window holds exactly those 10 until the test ends; times rise per user
    const events: {
      matchId: string;
      userId: number;
      peerUserId: number;
      chat_duration: number;
      timestampMillis: number;
    }[] = [];
    for (let k = 0; k < perUser; k++) {
      for (let u = 0; u < users; u++) {
        const old = perUser - 10;
        const t =
          k < old
            ? now - 3 * 86_400_000 + Math.floor((k * (3 * 86_400_000 - 20 * 60_000)) / old) + u
            : now - 5 * 60_000 + (k - old) * 20_000 + u;
        events.push({
          matchId: `agg-${tag}-${u}-${k}`,
          userId: 900_000 + u,
          peerUserId: (u * 7 + k) % 50,
          chat_duration: (u + k) % 300,
          timestampMillis: t,
        });
      }
    }
    const group = eventGroupOf(topics.match);
    const start = await groupProgress(admin, group, topics.match);
    // keyed by user, as a match backend publishes them: a user's matches stay in order
    const producing = publish(topics.match, events, (e) => String(e.userId));
    const matchWorkflow = commandConsumerWorkflowId(topics.match, group);
    const atKill = await eventually('3,000 match events committed', 300_000, async () => {
      const p = await groupProgress(admin, group, topics.match);
      return p.committed - start.committed >= 3_000 ? p : undefined;
    });
    const beat = await consumerHeartbeat(client, matchWorkflow);
    expect(await worker.stop('SIGKILL')).toBeNull();
    // killed mid-stream, not after the end
    expect((await groupProgress(admin, group, topics.match)).committed).toBeLessThan(
      start.end + events.length,
    );
    worker = await startWorker();
    await producing;
    await eventually('the match consumer restarted', 180_000, async () => {
      const h = await consumerHeartbeat(client, matchWorkflow);
      return h && beat && h.attempt > beat.attempt ? h : undefined;
    });
    await eventually('every match event committed', 400_000, async () => {
      const p = await groupProgress(admin, group, topics.match);
      return p.committed >= start.end + events.length ? p : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}; the worker's last lines:\n${worker.log()}`);
    });
    // the brute force over the events of each user
    const want = (u: number) => {
      const mine = events.filter((e) => e.userId === 900_000 + u);
      const inLast = (ms: number, t: number) =>
        mine.filter((e) => e.timestampMillis > t - ms && e.timestampMillis <= t);
      const avg = (xs: typeof mine) =>
        xs.length ? xs.reduce((s, e) => s + e.chat_duration, 0) / xs.length : 0;
      const t = Date.now();
      return {
        recent_10min_match_count: inLast(600_000, t).length,
        recent_10min_avg_chat_duration: avg(inLast(600_000, t)),
        match_count_lifetime: mine.length,
        chat_seconds_lifetime: mine.reduce((s, e) => s + e.chat_duration, 0),
        avg_chat_duration_30d: avg(mine),
        distinct_peers_30d: new Set(mine.map((e) => e.peerUserId)).size,
      };
    };
    for (let u0 = 0; u0 < users; u0 += 100) {
      const keys = Array.from({ length: 100 }, (_, j) => 900_000 + u0 + j);
      const res = await fetch(`${reader.url}/v1/features/lookup`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ feature: 'azar-match::match-stats', keys }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        results: { rows: { found: boolean; values: Record<string, number> }[] }[];
      };
      body.results[0]!.rows.forEach((row, j) => {
        const w = want(u0 + j);
        expect(row.found, `user ${keys[j]}`).toBe(true);
        for (const [name, v] of Object.entries(w))
          expect(row.values[name], `user ${keys[j]} ${name}`).toBeCloseTo(v, 9);
      });
    }
    const letters = (await stores.offline.readDeadLetters('azar-match::match-stats')).filter((d) =>
      d.payload.includes(`agg-${tag}-`),
    );
    expect(letters).toEqual([]);
    console.log(
      `aggregation kill test: killed at ${atKill.committed - start.committed} of ${events.length} committed; every count equals the brute force`,
    );
  }, 900_000);
});
