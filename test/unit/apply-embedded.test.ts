import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openEmbeddedOnlineStore } from '../../core/online/embedded-online-store.ts';
import { describeApplyRoundTrip } from './apply-round-trip.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-apply-'));
describeApplyRoundTrip('embedded', async () => openEmbeddedOnlineStore({ path: dir }));
