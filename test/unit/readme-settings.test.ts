import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { withSettingsTable } from '../../scripts/settings-table.ts';

it('README.md documents every setting as config/settings.ts defines it (run npx tsx scripts/settings-table.ts)', () => {
  const readme = readFileSync('README.md', 'utf8');
  expect(readme).toContain('<!-- settings:start -->');
  expect(withSettingsTable(readme)).toBe(readme);
});
