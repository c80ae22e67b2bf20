import { type Document, isMap, isPair, isScalar, isSeq, type LineCounter, type Node, Scalar } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

/**
 * Finds where a path points in a parsed YAML document: the key of the deepest pair
 * that exists along the path (so a missing key points at its parent's key).
 */
export function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly (string | number)[],
  /** A place in the text of the scalar value at `path` (an expression's error), and the YAML source. */
  inValue?: { source: string; at: number },
): Position {
  let node: unknown = doc.contents;
  let reached = true;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
      );
      if (!pair) {
        reached = false;
        break;
      }
      const key = pair.key as Node;
      offset = key.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) {
        reached = false;
        break;
      }
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      reached = false;
      break;
    }
  }
  if (reached && inValue !== undefined && isScalar(node) && node.range !== undefined)
    offset = scalarTextOffset(inValue.source, node, inValue.at) ?? offset;
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/**
 * The source offset of character `at` of a scalar's value: plain and quoted scalars on one line
 * (a quote, then the text; escapes before `at` are not counted), and block scalars (`|`, `>`)
 * whose lines are the value's lines, indented. Undefined when the text cannot be traced.
 */
function scalarTextOffset(source: string, node: Scalar, at: number): number | undefined {
  const [start, end] = node.range!;
  const raw = source.slice(start, end);
  const value = String(node.value);
  if (node.type === Scalar.PLAIN || node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) {
    const open = node.type === Scalar.PLAIN ? 0 : 1;
    return raw.includes('\n') ? undefined : start + open + at;
  }
  // a block scalar: the header line, then the value's lines with their indentation
  const before = value.slice(0, at);
  const line = before.split('\n').length - 1;
  const column = at - (before.lastIndexOf('\n') + 1);
  const sourceLines = raw.split('\n');
  const content = sourceLines.slice(1);
  if (content[line] === undefined) return undefined;
  // the block's indentation is its first content line's; deeper lines keep the rest in the value
  const first = content.find((l) => l.trim() !== '') ?? '';
  const indent = first.length - first.trimStart().length;
  let offset = start + sourceLines[0]!.length + 1;
  for (let i = 0; i < line; i++) offset += content[i]!.length + 1;
  return offset + indent + column;
}
