// Writes the configuration reference between the settings markers of README.md from
// config/settings.ts, so they cannot drift (test/unit/readme-settings.test.ts checks).
import { readFileSync, writeFileSync } from 'node:fs';
import { settingSpecs } from '../config/settings.ts';

export function settingsTable(): string {
  const rows = Object.values(settingSpecs).map(
    (s) => `| \`${s.env}\` | ${s.default === '' ? '(empty)' : `\`${s.default}\``} | ${s.description} |`,
  );
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function withSettingsTable(readme: string): string {
  return readme.replace(
    /<!-- settings:start -->[\s\S]*<!-- settings:end -->/,
    `<!-- settings:start -->\n${settingsTable()}\n<!-- settings:end -->`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync('README.md', withSettingsTable(readFileSync('README.md', 'utf8')));
  console.log('README.md: settings table written');
}
