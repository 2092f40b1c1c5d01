/**
 * docs/errors.md is the catalogue users and scripts rely on ("each giving its documented code").
 * This test keeps it honest in both directions: every code ferry raises is documented, every
 * documented code is still raised, and a code's documented exit codes include the ones it is
 * raised with. Codes are found in the syntax tree of src/**\/*.ts (not by grepping), so that codes
 * ferry only *matches* (Node's ECONNRESET, undici's UND_ERR_SOCKET, a registry's DENIED) and
 * environment variable names are not mistaken for codes ferry raises.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');
const DOC = path.join(ROOT, 'docs', 'errors.md');

const CODE_RE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;
const SYSEXITS = new Set<number>(Object.values(ExitCode).filter((n) => n !== 0));

// ---------------------------------------------------------------------------------------------
// The scanner

interface SourceText {
  /** Absolute path (imports are resolved against it). */
  file: string;
  text: string;
}

/** Something that raises a FerryError whose code is its argument number `argIndex`. */
interface Raiser {
  /** `call` name(...), `new` new Name(...), `method` x.name(...) in the same file. */
  via: 'call' | 'new' | 'method';
  name: string;
  /** The defining file; undefined for the FerryError constructor, which is known everywhere. */
  file: string | undefined;
  argIndex: number;
  /** Exit codes its FerryErrors get, where they are written as constants. */
  exits: Set<number>;
}

interface CodeSite {
  code: string;
  /** Repository-relative file and line. */
  at: string;
  /** `raise`: the code argument of a raiser; `property`: `code: 'X'` in an object (warnings, config issues). */
  kind: 'raise' | 'property';
  exits: Set<number>;
}

interface ScanResult {
  sites: CodeSite[];
  raisers: Raiser[];
}

type Leaf =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; fn: ts.SignatureDeclaration; index: number }
  | { kind: 'this'; cls: ts.ClassLikeDeclaration; prop: string };

type FunctionLike = ts.FunctionDeclaration | ts.FunctionExpression | ts.ArrowFunction | ts.MethodDeclaration | ts.ConstructorDeclaration;

function isFunctionLike(n: ts.Node): n is FunctionLike {
  return ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isArrowFunction(n) || ts.isMethodDeclaration(n) || ts.isConstructorDeclaration(n);
}

function unwrapExpr(e: ts.Expression): ts.Expression {
  let x = e;
  while (ts.isParenthesizedExpression(x) || ts.isAsExpression(x) || ts.isSatisfiesExpression(x) || ts.isNonNullExpression(x) || ts.isTypeAssertionExpression(x)) {
    x = x.expression;
  }
  return x;
}

/** The parents of a node, nearest first. */
function* ancestors(node: ts.Node): Generator<ts.Node> {
  // Node.parent is typed as always set, but a SourceFile has none.
  for (let n = (node as { parent?: ts.Node }).parent; n !== undefined; n = (n as { parent?: ts.Node }).parent) yield n;
}

/** The nearest declaration of `name` seen from `from`: a parameter, or a const with an initializer. */
function declarationOf(name: string, from: ts.Node): { param: { fn: FunctionLike; index: number } } | { init: ts.Expression } | undefined {
  for (const n of ancestors(from)) {
    if (isFunctionLike(n)) {
      const index = n.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === name);
      if (index >= 0) return { param: { fn: n, index } };
    }
    if (ts.isBlock(n) || ts.isSourceFile(n) || ts.isCaseClause(n) || ts.isDefaultClause(n)) {
      for (const st of n.statements) {
        if (!ts.isVariableStatement(st) || (st.declarationList.flags & ts.NodeFlags.Const) === 0) continue;
        for (const d of st.declarationList.declarations) {
          if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer !== undefined) return { init: d.initializer };
        }
      }
    }
  }
  return undefined;
}

/**
 * What a code argument can evaluate to: string constants, the parameters of the function around
 * it (which makes that function a wrapper), or `this.prop` set from a constructor parameter. The
 * condition of `a ? 'X' : 'Y'` is not a value (`code === 'ENOENT' ? ...` matches, it does not raise);
 * template literals with substitutions are never codes; `e.code` re-raises an existing code.
 */
function leavesOf(expr: ts.Expression, depth = 0): Leaf[] {
  const e = unwrapExpr(expr);
  if (depth > 8) return [];
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [{ kind: 'literal', value: e.text }];
  if (ts.isConditionalExpression(e)) return [...leavesOf(e.whenTrue, depth + 1), ...leavesOf(e.whenFalse, depth + 1)];
  if (ts.isBinaryExpression(e) && (e.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken || e.operatorToken.kind === ts.SyntaxKind.BarBarToken)) {
    return [...leavesOf(e.left, depth + 1), ...leavesOf(e.right, depth + 1)];
  }
  if (ts.isIdentifier(e)) {
    const d = declarationOf(e.text, e);
    if (d === undefined) return [];
    if ('param' in d) return [{ kind: 'param', fn: d.param.fn, index: d.param.index }];
    return leavesOf(d.init, depth + 1);
  }
  if (ts.isPropertyAccessExpression(e) && e.expression.kind === ts.SyntaxKind.ThisKeyword) {
    for (const n of ancestors(e)) {
      if (ts.isClassDeclaration(n) || ts.isClassExpression(n)) return [{ kind: 'this', cls: n, prop: e.name.text }];
    }
  }
  return [];
}

function resolveImport(fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return path.resolve(path.dirname(fromFile), spec).replace(/\.js$/, '.ts');
}

/** Local name → (defining file, exported name) for the relative named imports of a file. */
function importsOf(sf: ts.SourceFile): Map<string, { file: string; name: string }> {
  const out = new Map<string, { file: string; name: string }>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const file = resolveImport(sf.fileName, st.moduleSpecifier.text);
    const bindings = st.importClause?.namedBindings;
    if (file === undefined || bindings === undefined || !ts.isNamedImports(bindings)) continue;
    for (const el of bindings.elements) out.set(el.name.text, { file, name: (el.propertyName ?? el.name).text });
  }
  return out;
}

function forEachNode(root: ts.Node, fn: (n: ts.Node) => void): void {
  const visit = (n: ts.Node): void => {
    fn(n);
    n.forEachChild(visit);
  };
  visit(root);
}

/** The raiser identity a function-like gets when its parameter carries the code. */
function identityOf(fn: ts.SignatureDeclaration, file: string): Pick<Raiser, 'via' | 'name' | 'file'> | undefined {
  if (ts.isFunctionDeclaration(fn) && fn.name !== undefined) return { via: 'call', name: fn.name.text, file };
  if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isVariableDeclaration(fn.parent) && ts.isIdentifier(fn.parent.name)) {
    return { via: 'call', name: fn.parent.name.text, file };
  }
  if (ts.isMethodDeclaration(fn) && ts.isIdentifier(fn.name)) return { via: 'method', name: fn.name.text, file };
  if (ts.isConstructorDeclaration(fn) && ts.isClassDeclaration(fn.parent) && fn.parent.name !== undefined) {
    return { via: 'new', name: fn.parent.name.text, file };
  }
  return undefined;
}

/** The constructor parameter that `this.prop` is set from, if any. */
function constructorParamFor(cls: ts.ClassLikeDeclaration, prop: string): { ctor: ts.ConstructorDeclaration; index: number } | undefined {
  const ctor = cls.members.find(ts.isConstructorDeclaration);
  if (ctor === undefined) return undefined;
  const direct = ctor.parameters.findIndex((p) => ts.isParameterPropertyDeclaration(p, ctor) && ts.isIdentifier(p.name) && p.name.text === prop);
  if (direct >= 0) return { ctor, index: direct };
  for (const st of ctor.body?.statements ?? []) {
    if (!ts.isExpressionStatement(st) || !ts.isBinaryExpression(st.expression) || st.expression.operatorToken.kind !== ts.SyntaxKind.EqualsToken) continue;
    const { left, right } = st.expression;
    if (!ts.isPropertyAccessExpression(left) || left.expression.kind !== ts.SyntaxKind.ThisKeyword || left.name.text !== prop) continue;
    const r = unwrapExpr(right);
    if (!ts.isIdentifier(r)) continue;
    const index = ctor.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === r.text);
    if (index >= 0) return { ctor, index };
  }
  return undefined;
}

function scanSources(sources: readonly SourceText[], root = ROOT): ScanResult {
  const files = sources.map((s) => ts.createSourceFile(s.file, s.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS));
  const imports = new Map(files.map((sf) => [sf.fileName, importsOf(sf)]));
  const raisers = new Map<string, Raiser>();
  const key = (r: Pick<Raiser, 'via' | 'name' | 'file'>): string => `${r.via}:${r.file ?? '*'}:${r.name}`;
  // The one primitive: every helper (dataError, ...) and local wrapper is found from it.
  raisers.set(key({ via: 'new', name: 'FerryError', file: undefined }), { via: 'new', name: 'FerryError', file: undefined, argIndex: 0, exits: new Set() });

  const raiserAt = (n: ts.Node, sf: ts.SourceFile): Raiser | undefined => {
    let via: Raiser['via'];
    let name: string;
    if (ts.isNewExpression(n) && ts.isIdentifier(n.expression)) [via, name] = ['new', n.expression.text];
    else if (ts.isCallExpression(n) && ts.isIdentifier(n.expression)) [via, name] = ['call', n.expression.text];
    else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression)) return raisers.get(key({ via: 'method', name: n.expression.name.text, file: sf.fileName }));
    else return undefined;
    const imported = imports.get(sf.fileName)?.get(name);
    return (
      raisers.get(key({ via, name, file: sf.fileName })) ??
      (imported === undefined ? undefined : raisers.get(key({ via, name: imported.name, file: imported.file }))) ??
      raisers.get(key({ via, name, file: undefined }))
    );
  };

  /** Exit codes of one raise site: the FerryError options' exitCode (default 70), or the wrapper's. */
  const exitsAt = (n: ts.CallExpression | ts.NewExpression, r: Raiser): Set<number> => {
    if (r.file !== undefined) return r.exits;
    const opts = n.arguments?.[2];
    if (opts === undefined) return new Set([ExitCode.SOFTWARE]);
    const o = unwrapExpr(opts);
    if (!ts.isObjectLiteralExpression(o)) return new Set();
    const prop = o.properties.find((p) => p.name !== undefined && ts.isIdentifier(p.name) && p.name.text === 'exitCode');
    if (prop === undefined) return o.properties.some(ts.isSpreadAssignment) ? new Set() : new Set([ExitCode.SOFTWARE]);
    if (!ts.isPropertyAssignment(prop)) return new Set();
    const v = unwrapExpr(prop.initializer);
    if (ts.isNumericLiteral(v)) return new Set([Number(v.text)]);
    if (ts.isPropertyAccessExpression(v) && ts.isIdentifier(v.expression) && v.expression.text === 'ExitCode') {
      const value = (ExitCode as Record<string, number | undefined>)[v.name.text];
      return value === undefined ? new Set() : new Set([value]);
    }
    return new Set();
  };

  const sites: CodeSite[] = [];
  const pass = (collect: boolean): boolean => {
    let changed = false;
    const register = (id: Pick<Raiser, 'via' | 'name' | 'file'>, argIndex: number, exits: Set<number>): void => {
      const k = key(id);
      let r = raisers.get(k);
      if (r === undefined) {
        r = { ...id, argIndex, exits: new Set() };
        raisers.set(k, r);
        changed = true;
      }
      for (const x of exits) {
        if (!r.exits.has(x)) {
          r.exits.add(x);
          changed = true;
        }
      }
    };
    for (const sf of files) {
      const at = (n: ts.Node): string => `${path.relative(root, sf.fileName)}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
      forEachNode(sf, (n) => {
        if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
          const r = raiserAt(n, sf);
          const arg = r === undefined ? undefined : n.arguments?.[r.argIndex];
          if (r === undefined || arg === undefined) return;
          const exits = exitsAt(n, r);
          for (const leaf of leavesOf(arg)) {
            if (leaf.kind === 'literal') {
              if (collect) sites.push({ code: leaf.value, at: at(arg), kind: 'raise', exits });
            } else if (leaf.kind === 'param') {
              const id = identityOf(leaf.fn, sf.fileName);
              if (id !== undefined) register(id, leaf.index, exits);
            } else {
              const p = constructorParamFor(leaf.cls, leaf.prop);
              if (p !== undefined && leaf.cls.name !== undefined) register({ via: 'new', name: leaf.cls.name.text, file: sf.fileName }, p.index, exits);
            }
          }
        } else if (
          collect &&
          ts.isPropertyAssignment(n) &&
          ts.isObjectLiteralExpression(n.parent) &&
          (ts.isIdentifier(n.name) || ts.isStringLiteral(n.name)) &&
          n.name.text === 'code' &&
          !isZodIssue(n.parent)
        ) {
          for (const leaf of leavesOf(n.initializer)) {
            if (leaf.kind === 'literal') sites.push({ code: leaf.value, at: at(n.initializer), kind: 'property', exits: new Set() });
          }
        }
      });
    }
    return changed;
  };
  // Wrappers of wrappers: repeat until no new raiser (or exit code of one) turns up.
  for (let i = 0; pass(false); i++) if (i > 20) throw new Error('raiser discovery did not settle');
  pass(true);
  return { sites, raisers: [...raisers.values()] };
}

/** `ctx.addIssue({ code: 'custom', … })` in a zod refinement: zod's issue vocabulary, not ferry's codes. */
function isZodIssue(obj: ts.ObjectLiteralExpression): boolean {
  const call = obj.parent;
  return ts.isCallExpression(call) && ts.isPropertyAccessExpression(call.expression) && call.expression.name.text === 'addIssue';
}

function readSources(dir: string): SourceText[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      return { file, text: readFileSync(file, 'utf8') };
    });
}

// ---------------------------------------------------------------------------------------------
// The catalogue

interface DocRow {
  code: string;
  section: string;
  warning: boolean;
  /** The exit-code cell of an error row. */
  exits: Set<number>;
  line: number;
}

/** Rows of the markdown tables whose first cell is a `CODE`; the heading above says which family. */
function parseCatalogue(text: string): DocRow[] {
  const rows: DocRow[] = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const heading = /^#{2,3}\s+(.*)$/.exec(line);
    if (heading !== null) section = heading[1] ?? '';
    if (!line.startsWith('|')) return;
    const cells = line.replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
    const code = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0] ?? '')?.[1];
    if (code === undefined) return;
    const warning = /warning/i.test(section);
    const exits = new Set<number>();
    if (!warning) for (const m of (cells[1] ?? '').matchAll(/\b(\d{2,3})\b/g)) exits.add(Number(m[1]));
    rows.push({ code, section, warning, exits, line: i + 1 });
  });
  return rows;
}

function byCode(sites: readonly CodeSite[]): Map<string, CodeSite[]> {
  const out = new Map<string, CodeSite[]>();
  for (const s of sites) out.set(s.code, [...(out.get(s.code) ?? []), s]);
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('error catalogue (docs/errors.md)', () => {
  const scan = scanSources(readSources(SRC));
  const found = byCode(scan.sites);
  const docText = readFileSync(DOC, 'utf8');
  const rows = parseCatalogue(docText);
  const documented = new Map(rows.map((r) => [r.code, r]));

  it('finds the helpers and the local wrappers that raise FerryErrors', () => {
    const names = new Set(scan.raisers.map((r) => `${r.via}:${r.name}`));
    for (const helper of ['dataError', 'configError', 'usageError', 'unavailableError', 'tempError', 'authError']) {
      expect(names, helper).toContain(`call:${helper}`);
    }
    // Wrappers whose parameter carries the code: dockerfile.ts's fail(code, ...), and the
    // ShapeChecker class, whose constructor takes the code its checks fail with.
    expect(names).toContain('call:fail');
    expect(names).toContain('new:ShapeChecker');
    const helperExits = Object.fromEntries(
      scan.raisers.filter((r) => r.via === 'call' && r.name.endsWith('Error') && r.file?.endsWith(path.join('core', 'errors.ts')) === true).map((r) => [r.name, [...r.exits]]),
    );
    expect(helperExits).toEqual({ usageError: [64], dataError: [65], configError: [78], unavailableError: [69], tempError: [75], authError: [77] });
  });

  it('finds codes however they are passed, and only codes ferry raises', () => {
    const codes = new Set(found.keys());
    // through a wrapper, a class, a const chosen by a conditional, an object property, `a ?? 'X'`
    for (const c of ['DOCKERFILE_SYNTAX', 'IMAGE_BAD_MANIFEST', 'USAGE_UNKNOWN_FLAG', 'USAGE', 'CONFIG_UNKNOWN_KEY', 'CONFIG_INVALID', 'DOCKERFILE_JSON_SHELL_FORM', 'INTERNAL']) {
      expect(codes, c).toContain(c);
    }
    // matched, compared or named, never raised: Node/undici error codes, registry error codes,
    // environment variables
    for (const c of ['EAI_AGAIN', 'UND_ERR_SOCKET', 'ERR_TLS', 'ECONNREFUSED', 'ENOENT', 'DENIED', 'NAME_INVALID', 'FERRY_CONFIG', 'REGISTRY_AUTH_FILE', 'SOURCE_DATE_EPOCH', 'DOCKERFILE_']) {
      expect(codes, c).not.toContain(c);
    }
  });

  it('every code raised in src is UPPER_SNAKE_CASE', () => {
    const bad = scan.sites.filter((s) => !CODE_RE.test(s.code)).map((s) => `${s.code} (${s.at})`);
    expect(bad).toEqual([]);
  });

  it('documents every code raised in src', () => {
    const missing = [...found].filter(([code]) => !documented.has(code)).map(([code, sites]) => `${code} (${sites.map((s) => s.at).join(', ')})`);
    expect(missing, `codes raised in src/ but not in docs/errors.md:\n  ${missing.join('\n  ')}\n`).toEqual([]);
  });

  it('documents no code that src no longer raises', () => {
    const stale = rows.filter((r) => !found.has(r.code)).map((r) => `${r.code} (docs/errors.md:${r.line})`);
    expect(stale, `codes in docs/errors.md that nothing in src/ raises:\n  ${stale.join('\n  ')}\n`).toEqual([]);
  });

  it('documents each code once', () => {
    const seen = new Map<string, number>();
    for (const r of rows) seen.set(r.code, (seen.get(r.code) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1).map(([c]) => c)).toEqual([]);
  });

  it('gives each error the exit codes it is raised with, and only sysexits codes', () => {
    const wrong: string[] = [];
    for (const r of rows) {
      if (r.warning) continue;
      if (r.exits.size === 0) wrong.push(`${r.code}: no exit code in docs/errors.md:${r.line}`);
      for (const x of r.exits) if (!SYSEXITS.has(x)) wrong.push(`${r.code}: ${x} is not one of ferry's exit codes (docs/errors.md:${r.line})`);
      for (const s of found.get(r.code) ?? []) {
        for (const x of s.exits) if (!r.exits.has(x)) wrong.push(`${r.code}: raised with exit code ${x} at ${s.at}, not documented at docs/errors.md:${r.line}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('lists warnings apart from errors', () => {
    const misplaced = rows
      .filter((r) => r.warning && (found.get(r.code) ?? []).some((s) => s.kind === 'raise'))
      .map((r) => `${r.code} is raised as an error but listed under ${r.section}`);
    expect(misplaced).toEqual([]);
    expect(rows.filter((r) => r.warning).map((r) => r.code)).toContain('DOCKERFILE_JSON_SHELL_FORM');
  });

  it('shows the exit-code table and the --json envelope', () => {
    for (const x of SYSEXITS) expect(docText, String(x)).toMatch(new RegExp(`^\\|\\s*${x}\\s*\\|`, 'm'));
    expect(docText).toContain('"status"');
    expect(docText).toContain('"where"');
  });
});

describe('the error-code scanner', () => {
  const scan = (text: string, more: SourceText[] = []): Record<string, number[]> => {
    const r = scanSources([{ file: '/x/src/a.ts', text }, ...more], '/x');
    const out: Record<string, number[]> = {};
    for (const s of r.sites) out[s.code] = [...new Set([...(out[s.code] ?? []), ...s.exits])].sort();
    return out;
  };
  const errorsTs: SourceText = {
    file: '/x/src/core/errors.ts',
    text: `
      export const dataError = (code: string, message: string, opts = {}) => new FerryError(code, message, { ...opts, exitCode: ExitCode.DATAERR });
      export const configError = (code: string, message: string, opts = {}) => new FerryError(code, message, { ...opts, exitCode: 78 });`,
  };

  it('reads multi-line calls, conditionals, consts and wrappers, and not template literals', () => {
    const text = `
      import { dataError, configError } from './core/errors.js';
      function fail(code: string, where: string) { return dataError(code, 'm', { where }); }
      const wrap = (what: string, c: string) => fail(c, what);
      export function f(e: NodeJS.ErrnoException, n: number) {
        if (n === 1) throw dataError(
          'MULTI_LINE',
          \`message \${n}\`,
        );
        if (n === 2) throw configError(e.code === 'ENOENT' ? 'CFG_MISSING' : 'CFG_UNREADABLE', 'm');
        const code = n > 3 ? 'PICKED_A' : 'PICKED_B';
        if (n === 3) throw dataError(code, 'm');
        if (n === 4) throw fail('VIA_FAIL', 'x');
        if (n === 5) throw wrap('x', 'VIA_WRAP');
        if (n === 6) throw dataError(\`TEMPLATE_\${n}\`, 'm');
        if (n === 7) throw new FerryError('EXPLICIT', 'm', { exitCode: ExitCode.TEMPFAIL });
        if (n === 8) throw new FerryError('DEFAULT_EXIT', 'm');
        if (n === 9) throw dataError(e.code ?? 'FALLBACK', 'm');
        if (['ECONNRESET', 'UND_ERR_SOCKET'].includes(e.code ?? '') || process.env['FERRY_X']) return;
      }`;
    expect(scan(text, [errorsTs])).toEqual({
      MULTI_LINE: [65],
      CFG_MISSING: [78],
      CFG_UNREADABLE: [78],
      PICKED_A: [65],
      PICKED_B: [65],
      VIA_FAIL: [65],
      VIA_WRAP: [65],
      EXPLICIT: [75],
      DEFAULT_EXIT: [70],
      FALLBACK: [65],
    });
  });

  it('follows classes that keep the code they fail with, and warning objects', () => {
    const shape = {
      file: '/x/src/shape.ts',
      text: `
        import { dataError } from './core/errors.js';
        export class Checker {
          constructor(readonly code: string, readonly what: string) {}
          fail(path: string) { throw dataError(this.code, path); }
        }`,
    };
    const text = `
      import { Checker } from './shape.js';
      const c = new Checker('SHAPE_BAD', 'thing');
      c.fail('mediaType');
      warnings.push({ code: 'A_WARNING', line: 1, message: 'm' });`;
    expect(scan(text, [errorsTs, shape])).toEqual({ SHAPE_BAD: [65], A_WARNING: [] });
  });

  it('does not take a same-named function from another file for a wrapper', () => {
    const other = { file: '/x/src/other.ts', text: `import { dataError } from './core/errors.js';\nfunction fail(code: string) { return dataError(code, 'm'); }` };
    expect(scan(`function fail(path: string) { return path; }\nfail('NOT_A_CODE');`, [errorsTs, other])).toEqual({});
  });
});
