import { mapLimit } from '../../stores/online/map-limit.ts';
import type { OnlineStore } from '../../stores/online/online-store.ts';
import type { OfflineRowValues } from './downsync-writer.ts';

/** A downsync row kept in the journal until the warehouse has it. */
export interface JournaledRow {
  keyId: string;
  eventTimeMs: number;
  row: OfflineRowValues;
}

const prefix = 'downsync-journal/';

/** Buffers survive JSON as `{"$bytes": base64}`; everything else in a row is JSON already. */
function encode(row: JournaledRow): string {
  return JSON.stringify(row, function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    return Buffer.isBuffer(raw) ? { $bytes: raw.toString('base64') } : value;
  });
}

function decode(text: string): JournaledRow {
  return JSON.parse(text, (_k, v) =>
    v &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    typeof v.$bytes === 'string' &&
    Object.keys(v).length === 1
      ? Buffer.from(v.$bytes, 'base64')
      : v,
  ) as JournaledRow;
}

/**
 * Downsync rows made durable in the online store's metadata, for the rows whose key moves on to
 * a later interval before the warehouse has them. Once the online value has moved on, such a row
 * could not be rebuilt after a crash (a read-back would see the later state), so it is written
 * here first (a few milliseconds) instead of waiting for the warehouse (hundreds of ms to
 * seconds), and removed once the warehouse has it. A consumer that starts reads the journal of
 * each feature it downsyncs and writes what is left (checked against the table first, so a row
 * that did reach the warehouse is not written twice).
 */
export class DownsyncJournal {
  constructor(private readonly online: OnlineStore) {}

  private key(table: string, r: { keyId: string; eventTimeMs: number }): string {
    return `${prefix}${table}/${r.eventTimeMs}/${r.keyId}`;
  }

  async save(table: string, rows: readonly JournaledRow[]): Promise<void> {
    await mapLimit(rows, 32, (r) => this.online.putMeta(this.key(table, r), encode(r)));
  }

  async remove(table: string, rows: readonly { keyId: string; eventTimeMs: number }[]): Promise<void> {
    await mapLimit(rows, 32, (r) => this.online.deleteMeta(this.key(table, r)));
  }

  async load(table: string): Promise<JournaledRow[]> {
    const entries = await this.online.listMeta(`${prefix}${table}/`);
    return entries.map(([, v]) => decode(v));
  }
}
