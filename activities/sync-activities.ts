import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { FeatureDefinition } from '../domain/definitions/feature-definition.ts';
import { eventMappersOf } from '../domain/events/event-mapper.ts';
import { layoutOf } from '../domain/kinds/feature-kinds.ts';
import { loadTransform, TransformDefinitionError } from '../domain/transforms/transform-file.ts';
import type {
  ColumnSpec,
  IncrementalCursor,
  NullWatermarkReport,
  OfflineRow,
} from '../stores/offline/offline-store.ts';
import { OnlineStoreInputError } from '../stores/online/online-store.ts';
import type { FinishSyncInput, PlanSyncInput } from '../workflow-contract/activities.ts';
import { backfillStateKey, eventsBackfillStateKey, upsyncStateKey } from '../workflow-contract/ids.ts';
import type {
  ChunkInput,
  ChunkResult,
  SourceInfo,
  SyncMode,
  SyncOptions,
  SyncPlan,
} from '../workflow-contract/types.ts';
import { chunkProgressSignal } from './chunk-progress-signal.ts';
import { rowDeadLetter, upsyncDeadLetter } from './dead-letter-payload.ts';
import type { AppliedDefinitions } from './definitions.ts';
import type { ActivityDeps } from './deps.ts';
import { convertEventPage, historyEvents } from './event-rows.ts';
import { HeapBudget } from './heap-soft-limit.ts';
import { OrderedPages } from './ordered-pages.ts';
import { ReadAhead } from './read-ahead.ts';
import { convertPage, eventTimeColumnOf, rowConverter } from './row-to-write.ts';
import { type ChunkMark, type Lane, maxOf, readState, type StateRecord, writeState } from './sync-state.ts';
import { TokenBucket } from './token-bucket.ts';
import { writeIsolating } from './write-rows.ts';

/**
 * A chunk is one read of the source from the cursor: it ends at the end of the source, or after
 * this many rows, or after `defaultChunkSeconds`. Large on purpose: every chunk is a new
 * `ORDER BY watermark, keys` query over the rest of the source (BigQuery bills and DuckDB sorts it
 * again), while a retried chunk loses nothing (its position is saved per page) and the workflow
 * sees its progress live (signals).
 */
export const defaultChunkRows = 1_000_000;
export const defaultChunkSeconds = 600;
/** A chunk under a throughput limit lasts about this long, so retries and progress stay fine-grained. */
const chunkSecondsUnderLimit = 300;
const heartbeatEveryMs = 5_000;
/** How often a chunk saves its position in the online store (every page's is heartbeated). */
const stateSaveEveryMs = 500;

const sourceError = (message: string) => ApplicationFailure.nonRetryable(message, 'UpsyncSourceError');

function isIntegerColumn(c: ColumnSpec | undefined): boolean {
  return c?.type.kind === 'scalar' && ['Long', 'Int'].includes(c.type.scalar);
}

/** The sync options (workflow input: the UI or a script may send anything), each a positive number if given. */
function checkedOptions(options: SyncOptions | undefined): SyncOptions {
  const o = options ?? {};
  for (const name of ['chunkRows', 'chunkSeconds', 'pageSize', 'pagesInFlight', 'chunksPerRun'] as const) {
    const v: unknown = o[name];
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v < 1)) {
      throw ApplicationFailure.nonRetryable(
        `options.${name} must be a number of at least 1, got ${JSON.stringify(v)}`,
        'UpsyncNotConfigured',
      );
    }
  }
  return o;
}

function laneOf(record: StateRecord, plan: SyncPlan, workflowId: string): Lane {
  if (plan.mode !== 'full') return record;
  if (!record.full || record.full.workflowId !== workflowId) {
    record.full = { workflowId, startedAtMs: Date.now(), watermark: null };
  }
  return record.full;
}

export function createSyncActivities(deps: ActivityDeps, defs: AppliedDefinitions) {
  const { online, offline, settings } = deps;
  const now = deps.now ?? Date.now;

  async function sourceOf(def: FeatureDefinition): Promise<{ table: string; source: string }> {
    const u = def.upsync!;
    if (u.source.kind === 'table') return { table: u.source.table, source: `table ${u.source.table}` };
    try {
      const t = await loadTransform(settings.sqlDir, u.source.transform, offline.dialect);
      return { table: t.destination, source: `transform ${u.source.transform} → ${t.destination}` };
    } catch (e) {
      if (e instanceof TransformDefinitionError) throw sourceError(e.message);
      throw e;
    }
  }

  /** Throws a non-retryable failure unless the online store holds the feature (`ferry apply` ran). */
  async function requireOnlineFeature(def: FeatureDefinition): Promise<void> {
    try {
      const layout = layoutOf(def);
      if (layout === 'entries') await online.readHistory(def, []);
      else if (layout === 'aggregates') await online.readAggregates(def, []);
      else await online.readObjects(def, []);
    } catch (e) {
      if (e instanceof OnlineStoreInputError) {
        throw ApplicationFailure.nonRetryable(`online store: ${e.message}`, 'OnlineStoreNotReady');
      }
      throw e;
    }
  }

  /**
   * The plan of a backfill from the events kept in the offline store (`from_events.backfill`): the
   * table's rows in watermark order over [fromMs, toMs), every column read (the rules may use
   * any), each row run through the feature's rules by syncChunk.
   */
  async function planEventsBackfill(
    input: PlanSyncInput,
    def: FeatureDefinition,
    revision: number,
  ): Promise<SyncPlan> {
    const b = def.fromEvents?.backfill;
    if (b === undefined) {
      throw ApplicationFailure.nonRetryable(
        `${def.name} has no from_events.backfill: name the offline table that keeps its events`,
        'UpsyncNotConfigured',
      );
    }
    const { fromMs, toMs } = input;
    if (
      input.mode !== 'backfill' ||
      !Number.isSafeInteger(fromMs) ||
      !Number.isSafeInteger(toMs) ||
      fromMs! >= toMs!
    ) {
      throw ApplicationFailure.nonRetryable(
        `an events backfill needs a range of integers with from < to, got [${fromMs}, ${toMs})`,
        'UpsyncNotConfigured',
      );
    }
    const columns = await offline.describeTable(b.table);
    if (!columns) {
      throw sourceError(
        `the events table ${b.table} of ${def.name} does not exist in the ${offline.kind} offline store`,
      );
    }
    const wm = columns.find((c) => c.name === b.watermarkColumn);
    if (!wm) throw sourceError(`events table ${b.table} has no watermark column ${b.watermarkColumn}`);
    if (wm.type.kind !== 'scalar' || !['Long', 'Int', 'Timestamp'].includes(wm.type.scalar)) {
      throw sourceError(`watermark column ${b.table}.${wm.name} must be Long or Timestamp`);
    }
    await requireOnlineFeature(def);
    const o = checkedOptions(input.options);
    const stateKey = eventsBackfillStateKey(def.name, fromMs!, toMs!);
    const record = await readState(online, stateKey, def.name);
    return {
      feature: def.name,
      revision,
      featureType: def.featureType,
      mode: 'backfill',
      sourceTable: b.table,
      source: `events table ${b.table} through the from_events rules`,
      watermarkColumn: b.watermarkColumn,
      eventTimeColumn: b.watermarkColumn,
      keyFields: def.keyFields,
      // events rows rarely hold the key fields by name: a resume may repeat one watermark value's rows
      tieBreaker: [],
      valueFields: [],
      missingFields: [],
      readColumns: columns.map((c) => c.name),
      startCursor: !record.done && record.cursor ? record.cursor : { watermark: fromMs! - 1 },
      startWatermark: null,
      untilWatermark: toMs!,
      stateKey,
      chunkRows: Math.max(1, Math.floor(o.chunkRows ?? defaultChunkRows)),
      chunkSeconds: Math.max(1, o.chunkSeconds ?? defaultChunkSeconds),
      pageSize: Math.max(1, Math.floor(o.pageSize ?? online.bulkWriteRows)),
      pagesInFlight: Math.max(1, Math.floor(o.pagesInFlight ?? online.bulkWritesInFlight)),
      events: true,
      // an Aggregation's history takes a key's events in time order: one page at a time
      ...(layoutOf(def) === 'aggregates' ? { historyCutMs: Math.min(toMs!, now()), pagesInFlight: 1 } : {}),
    };
  }

  /** Resolves what a sync reads and where it starts. */
  async function planSync(input: PlanSyncInput): Promise<SyncPlan> {
    const { applied, def } = await defs.get(input.feature);
    if (input.options?.source === 'events') return planEventsBackfill(input, def, applied.revision);
    const u = def.upsync;
    if (!u?.enabled) {
      throw ApplicationFailure.nonRetryable(
        `${def.name} has no enabled upsync in its definition (upsync.enabled)`,
        'UpsyncNotConfigured',
      );
    }
    // without incremental_update every upsync is a full copy
    const mode: SyncMode = input.mode === 'incremental' && !u.incremental ? 'full' : input.mode;
    const { table, source } = await sourceOf(def);
    const columns = await offline.describeTable(table);
    if (!columns) {
      throw sourceError(
        `the upsync source table ${table} of ${def.name} does not exist in the ${offline.kind} offline store` +
          (u.source.kind === 'transform' ? ` (run its transform ${u.source.transform} first)` : ''),
      );
    }
    const byName = new Map(columns.map((c) => [c.name, c]));
    const missingKeys = def.keyFields.filter((k) => !byName.has(k));
    if (missingKeys.length > 0) {
      throw sourceError(
        `source table ${table} lacks the key field(s) ${missingKeys.join(', ')} of ${def.name}`,
      );
    }
    const wm = byName.get(u.watermarkColumn);
    if (!wm) throw sourceError(`source table ${table} has no watermark column ${u.watermarkColumn}`);
    if (wm.type.kind !== 'scalar' || !['Long', 'Int', 'Timestamp'].includes(wm.type.scalar)) {
      throw sourceError(`watermark column ${table}.${wm.name} must be Long or Timestamp`);
    }
    const names = columns.map((c) => c.name);
    const eventTimeColumn = eventTimeColumnOf(names, u.watermarkColumn);
    const et = byName.get(eventTimeColumn);
    if (et?.type.kind !== 'scalar' || !['Long', 'Int', 'Timestamp'].includes(et.type.scalar)) {
      throw sourceError(`event-time column ${table}.${eventTimeColumn} must be Long epoch ms or Timestamp`);
    }
    const tieOk = def.keyFields.every((k) => {
      const c = byName.get(k);
      return isIntegerColumn(c) || (c?.type.kind === 'scalar' && c.type.scalar === 'Text');
    });
    const valueNames = def.fields.filter((f) => !f.isKey).map((f) => f.name);
    const valueFields = valueNames.filter((n) => byName.has(n));
    const missingFields = valueNames.filter((n) => !byName.has(n));
    await requireOnlineFeature(def);

    const o = checkedOptions(input.options);
    // rows per page: what suits the online store's writes unless the options say otherwise
    let pageSize = Math.max(1, Math.floor(o.pageSize ?? online.bulkWriteRows));
    let chunkRows = Math.max(1, Math.floor(o.chunkRows ?? defaultChunkRows));
    const chunkSeconds = Math.max(1, o.chunkSeconds ?? defaultChunkSeconds);
    const rate = u.maxRowsPerSecond;
    if (rate !== undefined && rate > 0) {
      pageSize = Math.min(pageSize, Math.max(1, Math.floor(rate)));
      chunkRows = Math.min(chunkRows, Math.max(pageSize, Math.floor(rate * chunkSecondsUnderLimit)));
    }

    let stateKey = upsyncStateKey(def.name);
    let startCursor: IncrementalCursor | undefined;
    let startWatermark: number | null = null;
    let untilWatermark: number | undefined;
    if (mode === 'backfill') {
      const { fromMs, toMs } = input;
      if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs! >= toMs!) {
        throw ApplicationFailure.nonRetryable(
          `backfill range must be integers with from < to, got [${fromMs}, ${toMs})`,
          'UpsyncNotConfigured',
        );
      }
      stateKey = backfillStateKey(def.name, fromMs!, toMs!);
      const record = await readState(online, stateKey, def.name);
      // a backfill of this range that stopped (crash, termination) continues where it was
      startCursor = !record.done && record.cursor ? record.cursor : { watermark: fromMs! - 1 };
      untilWatermark = toMs!;
    } else {
      if (mode === 'incremental') {
        const record = await readState(online, stateKey, def.name);
        startWatermark = record.watermark;
        startCursor = record.cursor;
      }
    }
    const readColumns = [...new Set([...def.keyFields, ...valueFields, u.watermarkColumn, eventTimeColumn])];
    return {
      feature: def.name,
      revision: applied.revision,
      featureType: def.featureType,
      mode,
      sourceTable: table,
      source,
      watermarkColumn: u.watermarkColumn,
      eventTimeColumn,
      keyFields: def.keyFields,
      tieBreaker: tieOk ? def.keyFields : [],
      valueFields,
      missingFields,
      readColumns,
      ...(startCursor ? { startCursor } : {}),
      startWatermark,
      ...(untilWatermark !== undefined ? { untilWatermark } : {}),
      stateKey,
      chunkRows,
      chunkSeconds,
      pageSize,
      pagesInFlight: Math.max(1, Math.floor(o.pagesInFlight ?? online.bulkWritesInFlight)),
      ...(rate !== undefined ? { maxRowsPerSecond: rate } : {}),
    };
  }

  /**
   * Copies up to `plan.chunkRows` rows from the cursor: page by page, each row checked against the
   * definition and written to the online store (event time decides what stays), rows that fail
   * going to dead letters with the reason; after each page, the position is saved and heartbeated.
   * A retried attempt resumes from the last saved page of its own chunk.
   */
  async function syncChunk(input: ChunkInput): Promise<ChunkResult> {
    const ctx = Context.current();
    const { plan, token } = input;
    const { def } = await defs.get(plan.feature);
    const workflowId = ctx.info.workflowExecution?.workflowId ?? 'standalone';
    const record = await readState(online, plan.stateKey, plan.feature);
    const lane = laneOf(record, plan, workflowId);

    let mark: ChunkMark = {
      token,
      pages: 0,
      rowsRead: 0,
      rowsWritten: 0,
      rowsDeadLettered: 0,
      maxWatermark: null,
      ...(input.cursor ? { cursor: input.cursor } : {}),
    };
    const beat = ctx.info.heartbeatDetails as ChunkMark | undefined;
    for (const m of [beat, lane.chunk]) {
      if (m && m.token === token && m.pages > mark.pages) mark = m;
    }
    if (mark.pages > 0) {
      ctx.log.info('resuming chunk', {
        feature: plan.feature,
        token,
        pages: mark.pages,
        rowsRead: mark.rowsRead,
      });
    }

    const convert = rowConverter(def, {
      valueFields: plan.valueFields,
      eventTimeColumn: plan.eventTimeColumn,
    });
    // an events backfill: each row is an event for the feature's rules
    const mapper = plan.events ? def.fromEvents && eventMappersOf([def], def.fromEvents.topic)[0] : undefined;
    if (plan.events && mapper === undefined)
      throw ApplicationFailure.nonRetryable(
        `${def.name} has no from_events rules any more`,
        'UpsyncNotConfigured',
      );
    const eventLetter = (row: OfflineRow, reason: string, at: number) =>
      rowDeadLetter(plan.feature, 'event', row, reason, at);
    const wmColumn = plan.watermarkColumn;
    const until = plan.untilWatermark;
    const clock = deps.rateLimitClock;
    const bucket =
      plan.maxRowsPerSecond !== undefined && plan.maxRowsPerSecond > 0
        ? new TokenBucket(
            plan.maxRowsPerSecond,
            (ms) => (clock ? clock.sleep(ms) : ctx.sleep(ms)),
            clock ? () => clock.now() : undefined,
          )
        : undefined;
    const letter = (row: OfflineRow, reason: string, at: number) =>
      upsyncDeadLetter(plan.feature, row, reason, at);
    const onNullWatermarks = async (report: NullWatermarkReport) => {
      if (plan.mode === 'backfill' || record.nullWatermarkRows === report.count) return;
      const at = now();
      const reason = `${report.watermarkColumn} is NULL: an upsync cannot order this row (${report.count} rows of ${report.table} are like it; up to 10 are kept here)`;
      await offline.writeDeadLetters(report.sample.map((r) => letter(r, reason, at)));
      record.nullWatermarkRows = report.count;
      ctx.log.warn('rows with a NULL watermark are not synced', {
        feature: plan.feature,
        count: report.count,
      });
    };
    const report = chunkProgressSignal(ctx, () => ({
      token,
      rowsRead: mark.rowsRead,
      rowsWritten: mark.rowsWritten,
      rowsDeadLettered: mark.rowsDeadLettered,
      maxWatermark: mark.maxWatermark,
      ...(mark.cursor ? { cursor: mark.cursor } : {}),
    }));

    let lastSaved = Date.now();
    let saved = mark.pages;
    const saveState = async () => {
      lastSaved = Date.now();
      saved = mark.pages;
      record.updatedAtMs = now();
      await writeState(online, plan.stateKey, record);
    };

    ctx.heartbeat(mark);
    const ticker = setInterval(() => ctx.heartbeat(mark), heartbeatEveryMs);
    const started = Date.now();
    let done = true;
    const pages = new ReadAhead(
      offline.readIncremental(plan.sourceTable, {
        watermarkColumn: wmColumn,
        pageSize: plan.pageSize,
        tieBreaker: plan.tieBreaker,
        columns: plan.readColumns,
        onNullWatermarks,
        ...(mark.cursor ? { after: mark.cursor } : {}),
      }),
    );
    const written = new OrderedPages(plan.pagesInFlight ?? 2);
    const heap = new HeapBudget();
    let rowsSeen = mark.rowsRead;
    try {
      for (let page = await pages.next(); page; page = await pages.next()) {
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('upsync chunk cancelled');
        let rows = page.rows;
        let reachedEnd = false;
        if (until !== undefined) {
          const cut = rows.findIndex((r) => (r[wmColumn] as number) >= until);
          if (cut >= 0) {
            rows = rows.slice(0, cut);
            reachedEnd = true;
          }
        }
        const at = now();
        const { writes, sources, letters, deletes, rules } =
          mapper !== undefined
            ? convertEventPage(rows, mapper, (row, reason) => eventLetter(row, reason, at))
            : {
                ...convertPage(rows, convert, (row, reason) => letter(row, reason, at)),
                deletes: [],
                rules: [],
              };
        if (bucket && writes.length > 0) await bucket.take(writes.length);
        const pageCursor = page.cursor;
        // A page's position is saved once its rows are written, its dead letters stored, and the
        // page before it saved: the saved cursor never passes a row that is not stored.
        await written.add(
          async () => {
            // an Aggregation's history counts an event once: those skipped (after the key's live
            // start, or counted by an earlier run) are read, not written
            let notCounted = 0;
            const rejected =
              writes.length === 0
                ? []
                : plan.historyCutMs !== undefined
                  ? await writeIsolating(online, def, writes, async (batch, from) => {
                      const outcomes = await online.writeAggregateHistory(
                        def,
                        historyEvents(def.name, batch, rules.slice(from, from + batch.length)),
                        plan.historyCutMs!,
                        now(),
                      );
                      notCounted += outcomes.filter((o) => !('accepted' in o)).length;
                    })
                  : await writeIsolating(online, def, writes);
            if (deletes.length > 0) await online.deleteKeys(def, deletes);
            for (const r of rejected)
              letters.push((mapper ? eventLetter : letter)(sources[r.index]!, r.reason, at));
            if (letters.length > 0) await offline.writeDeadLetters(letters);
            return rejected.length + notCounted;
          },
          async (rejected) => {
            const pageMax = rows.length > 0 ? (rows[rows.length - 1]![wmColumn] as number) : null;
            const cursor = reachedEnd ? mark.cursor : (pageCursor ?? mark.cursor);
            mark = {
              token,
              pages: mark.pages + 1,
              rowsRead: mark.rowsRead + rows.length,
              rowsWritten: mark.rowsWritten + writes.length - rejected,
              rowsDeadLettered: mark.rowsDeadLettered + letters.length,
              maxWatermark: maxOf(mark.maxWatermark, pageMax),
              ...(cursor ? { cursor } : {}),
            };
            if (cursor) lane.cursor = cursor;
            lane.watermark = maxOf(lane.watermark, pageMax);
            lane.chunk = mark;
            ctx.heartbeat(mark);
            report();
            // the position goes to the online store at most every stateSaveEveryMs (and at the end
            // of the chunk, below): one more write transaction per page cost the embedded store a
            // fifth of its throughput; a crash repeats at most that much work (rewrites change nothing).
            if (Date.now() - lastSaved >= stateSaveEveryMs) await saveState();
          },
        );
        rowsSeen += rows.length;
        heap.collectIfOver();
        if (reachedEnd) break;
        if (rowsSeen >= plan.chunkRows || Date.now() - started >= plan.chunkSeconds * 1000) {
          // the chunk's budget is spent; when the source ends right here the sync is done
          done = await pages.atEnd();
          break;
        }
      }
      await written.committed();
      if (saved !== mark.pages) await saveState();
    } finally {
      clearInterval(ticker);
      await written.settled();
      // a failed chunk still saves the position its stored pages reached (best effort: the store
      // may be what failed), so that the retry resumes there
      if (saved !== mark.pages) await saveState().catch(() => undefined);
      // stopped before the end of the read (budget, backfill range, failure): close it
      await pages.close();
    }
    return {
      rowsRead: mark.rowsRead,
      rowsWritten: mark.rowsWritten,
      rowsDeadLettered: mark.rowsDeadLettered,
      maxWatermark: mark.maxWatermark,
      done,
      pages: mark.pages,
      ...(mark.cursor ? { cursor: mark.cursor } : {}),
    };
  }

  /** Records the end of a sync: a full copy's position becomes the incremental one; a backfill is marked done. */
  async function finishSync(input: FinishSyncInput): Promise<void> {
    const { plan, progress } = input;
    const record = await readState(online, plan.stateKey, plan.feature);
    if (plan.mode === 'backfill') {
      record.done = true;
      delete record.chunk;
    } else {
      if (plan.mode === 'full') {
        const full = record.full?.workflowId === input.workflowId ? record.full : undefined;
        const cursor = full?.cursor ?? input.cursor;
        if (cursor) {
          record.cursor = cursor;
          record.watermark = full?.watermark ?? progress.watermark;
        }
        delete record.full;
      }
      delete record.chunk;
      record.lastRun = {
        workflowId: input.workflowId,
        runId: input.runId,
        mode: plan.mode,
        finishedAtMs: now(),
        rowsRead: progress.rowsRead,
        rowsWritten: progress.rowsWritten,
        rowsDeadLettered: progress.rowsDeadLettered,
        watermark: record.watermark,
      };
    }
    record.updatedAtMs = now();
    await writeState(online, plan.stateKey, record);
  }

  /** Where each feature's upsync reads from (a transform or a table); an error per feature that has none. */
  async function describeSources(input: {
    features: string[];
  }): Promise<(SourceInfo & { error?: string })[]> {
    const out: (SourceInfo & { error?: string })[] = [];
    for (const feature of input.features) {
      try {
        const { def } = await defs.get(feature);
        const u = def.upsync;
        if (!u?.enabled) out.push({ feature, kind: 'table', error: `${feature} has no enabled upsync` });
        else if (u.source.kind === 'transform')
          out.push({ feature, kind: 'transform', transform: u.source.transform });
        else out.push({ feature, kind: 'table', table: u.source.table });
      } catch (e) {
        out.push({ feature, kind: 'table', error: (e as Error).message });
      }
    }
    return out;
  }

  return { planSync, syncChunk, finishSync, describeSources };
}
