/**
 * CONFORMANCE.md at the repository root lists every VIRTIO and vhost-user rule with the tests
 * that show it. This keeps the list honest: every cited file exists, every cited title is still
 * the title of a test (or a describe block) in that file, every row has a known status, and the counts the page prints
 * are the counts of its rows.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const page = readFileSync(join(root, 'CONFORMANCE.md'), 'utf8');

const STATUSES = ['TESTED', 'UNTESTED', 'MISSING', 'N/A'] as const;
type Status = (typeof STATUSES)[number];

interface Citation {
  file: string;
  title: string | null;
}
interface Row {
  id: string;
  status: Status;
  citations: Citation[];
}

/** Splits a markdown table line into cells, keeping escaped pipes inside a cell. */
function cells(line: string): string[] {
  return line
    .slice(1, line.lastIndexOf('|'))
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

function parseCitation(text: string): Citation {
  const withTitle = /^`([^`]+)`: (.+)$/.exec(text);
  if (withTitle) return { file: withTitle[1]!, title: withTitle[2]!.replace(/\\\|/g, '|') };
  const bare = /^`([^`]+\.sh)`$/.exec(text);
  if (bare) return { file: bare[1]!, title: null };
  throw new Error(`CONFORMANCE.md: cannot read the citation "${text}"`);
}

function parseRows(md: string): Row[] {
  const rows: Row[] = [];
  for (const line of md.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| ID ') || line.startsWith('| ---')) continue;
    const c = cells(line);
    if (c.length !== 6) throw new Error(`CONFORMANCE.md: a row needs 6 cells: ${line.slice(0, 80)}`);
    const [id, , , status, tests] = c as [string, string, string, string, string];
    if (!(STATUSES as readonly string[]).includes(status)) throw new Error(`CONFORMANCE.md: row ${id} has status "${status}"`);
    const citations = tests === '—' || tests === '' ? [] : tests.split('<br>').map(parseCitation);
    rows.push({ id, status: status as Status, citations });
  }
  return rows;
}

/** The titles of every it/test/describe call (with .each, .only, ...) in a test file, as written. */
function testTitles(source: string): Set<string> {
  const titles = new Set<string>();
  const code = source
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
    .join('\n');
  const call = /\b(?:it|test|describe)(?:\.(?:each|only|skip|concurrent)\b[\s\S]*?\))?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;
  for (const m of code.matchAll(call)) titles.add(m[2]!.replace(/\\(['"`\\])/g, '$1'));
  return titles;
}

const rows = parseRows(page);

describe('CONFORMANCE.md', () => {
  it('has rows, each with a unique ID', () => {
    expect(rows.length).toBeGreaterThan(100);
    const ids = rows.map((r) => r.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('prints the counts of its rows', () => {
    const m = /\*\*Counts:\*\* (\d+) rules: (\d+) tested, (\d+) untested, (\d+) missing, (\d+) not applicable\./.exec(page);
    expect(m).not.toBeNull();
    const count = (s: Status): number => rows.filter((r) => r.status === s).length;
    expect(m!.slice(1).map(Number)).toEqual([rows.length, count('TESTED'), count('UNTESTED'), count('MISSING'), count('N/A')]);
  });

  it('cites at least one test for every TESTED row', () => {
    expect(rows.filter((r) => r.status === 'TESTED' && r.citations.length === 0).map((r) => r.id)).toEqual([]);
  });

  it('cites only test files that exist and titles that are still tests in them', () => {
    const titlesOf = new Map<string, Set<string>>();
    const broken: string[] = [];
    for (const row of rows) {
      for (const { file, title } of row.citations) {
        if (!existsSync(join(root, file))) {
          broken.push(`${row.id}: no file ${file}`);
          continue;
        }
        if (title === null) continue;
        let titles = titlesOf.get(file);
        if (!titles) titlesOf.set(file, (titles = testTitles(readFileSync(join(root, file), 'utf8'))));
        if (!titles.has(title)) broken.push(`${row.id}: ${file} has no test "${title}"`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('finds titles the way jest writes them, and not in comments or strings elsewhere', () => {
    const src = [
      "it('plain title', () => {});",
      'test("double \\"quoted\\"", () => {});',
      "it.each([[1, 2], [3, 4]])('case %i: %s', () => {});",
      'it(`template ${x} title`, () => {});',
      "it('don\\'t', () => {});",
      "describe('a group', () => {});",
      "// it('a comment mentions a test', ...) but calls nothing",
      "expect(name).toBe('just a string');",
    ].join('\n');
    const titles = testTitles(src);
    expect([...titles].sort()).toEqual(
      ['a group', 'case %i: %s', 'don\'t', 'double "quoted"', 'plain title', 'template ${x} title'].sort(),
    );
  });
});
