import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ferryBin, ferryEnv } from '../ferry-bin.ts';

const run = promisify(execFile);
const root = process.cwd();

/** Runs `ferry` in a project folder of its own with the embedded stores under it. */
async function ferryIn(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(ferryBin, args, {
      cwd,
      env: ferryEnv({
        ...process.env,
        FERRY_DATA_DIR: path.join(cwd, '.ferry'),
        FERRY_ONLINE_STORE: 'embedded',
        FERRY_OFFLINE_STORE: 'duckdb',
        // definitions and tables only: no Temporal schedules, no Kafka topics
        FERRY_TEMPORAL_ADDRESS: '',
        FERRY_KAFKA_BROKERS: '',
      }),
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function project(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-cli-'));
  cpSync(path.join(root, 'features'), path.join(dir, 'features'), { recursive: true });
  cpSync(path.join(root, 'sql'), path.join(dir, 'sql'), { recursive: true });
  return dir;
}

describe('ferry validate, plan, apply, list, describe (embedded stores)', () => {
  it('validates the sample features and reports a broken file with its location, exit 1', async () => {
    const dir = project();
    const ok = await ferryIn(dir, 'validate', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, errors: [] });
    writeFileSync(
      path.join(dir, 'features', 'broken.yaml'),
      'live::broken:\n  feature_type: Object\n  owner: a\n  schema:\n    id: {type: Text, is_key_field: true}\n    n: {type: Long, default_value: "many"}\n',
    );
    const bad = await ferryIn(dir, 'validate');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      'features/broken.yaml:6:21 live::broken.schema.n.default_value: expected Long, got "many"',
    );
  });

  it('plans, applies, and a second apply changes nothing and says so', async () => {
    const dir = project();
    const plan = await ferryIn(dir, 'plan', '--json');
    expect(plan.code).toBe(0);
    const planned = JSON.parse(plan.stdout) as {
      empty: boolean;
      features: { name: string; action: string }[];
    };
    expect(planned.empty).toBe(false);
    expect(new Set(planned.features.map((f) => f.action))).toEqual(new Set(['create']));

    const first = await ferryIn(dir, 'apply');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Applied ${planned.features.length}, retired 0.`);
    const second = await ferryIn(dir, 'apply');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('No changes: what is applied matches features/.');
    expect(second.stdout).toContain('Nothing to do: already applied.');

    const list = await ferryIn(dir, 'list', '--json');
    expect((JSON.parse(list.stdout) as { name: string }[]).map((r) => r.name).sort()).toEqual(
      planned.features.map((f) => f.name).sort(),
    );
    const described = await ferryIn(dir, 'describe', 'live::realtime-room-context');
    expect(described.code).toBe(0);
    expect(described.stdout).toContain('downsync 1m 90%');
    expect(described.stdout).toMatch(/has_guest\s+Boolean\s+default false/);
    const missing = await ferryIn(dir, 'describe', 'live::nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no applied feature "live::nope"');
  });

  it('refuses an incompatible change with the reason and exit 1, changing nothing', async () => {
    const dir = project();
    expect((await ferryIn(dir, 'apply')).code).toBe(0);
    const file = path.join(dir, 'features', 'live.yaml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('    level:\n      type: Long', '    level:\n      type: Int'),
    );
    const refused = await ferryIn(dir, 'apply');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('! live::hakuna-host-stat-v1 (refused)');
    expect(refused.stdout).toContain(
      'schema.level.type: changing a field type makes stored values unreadable',
    );
    expect(refused.stderr).toContain('apply refused; nothing was changed.');
    const described = await ferryIn(dir, 'describe', 'live::hakuna-host-stat-v1', '--json');
    expect(
      JSON.parse(described.stdout).definition.fields.find((f: { name: string }) => f.name === 'level').type,
    ).toEqual({
      kind: 'scalar',
      scalar: 'Long',
    });
  });

  it('answers bad flags with exit 2 and the usage', async () => {
    const dir = project();
    const r = await ferryIn(dir, 'plan', '--frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--frobnicate'");
    expect(r.stderr).toContain('Usage: ferry plan');
    const unknown = await ferryIn(dir, 'fly');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'fly'");
  });

  it('ferry downsync start: a bad duration flag is exit 2 naming the flag, before anything connects', async () => {
    const dir = project();
    for (const [flag, value] of [
      ['--lateness', 'soon'],
      ['--idle-close', '-1s'],
      ['--session-timeout', '0s'],
      ['--heartbeat-timeout', '15 seconds'],
      ['--max-retry-interval', ''],
    ] as const) {
      const r = await ferryIn(dir, 'downsync', 'start', `${flag}=${value}`);
      expect(r.code, `${flag}=${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`${flag}: expected a duration`);
      expect(r.stderr).toContain(`"${value}"`);
    }
    const r = await ferryIn(dir, 'downsync', 'begin');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected one of start, stop, status');
  });
});
