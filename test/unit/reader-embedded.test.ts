import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { openEmbeddedOnlineStore } from '../../stores/online/embedded-online-store.ts';
import { describeReaderApi } from '../conformance/reader-api-suite.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeReaderApi('embedded (LMDB)', () => openEmbeddedOnlineStore({ path: path.join(dir, 'online') }));
