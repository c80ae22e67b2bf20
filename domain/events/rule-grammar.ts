// The grammar of event-rule expressions (`when:` filters and the key and value mappings of a
// `from_events` rule), in Peggy's notation: a small SQL expression language that people who
// write ksqlDB or BigQuery read at first sight. Keywords are case-insensitive; names are plain
// identifiers or back-quoted (`eventType`, `user id`); strings are single-quoted ('' escapes a
// quote). Precedence, loosest first: OR, AND, NOT, comparisons (= != <> < <= > >= IN IS LIKE),
// || + -, * / %, unary minus. The parser builds the tree of rule-expression.ts; nothing is ever
// evaluated as JavaScript.

export const ruleGrammar = String.raw`
{{
  function node(kind, props, loc) { return { kind, ...props, at: loc.start.offset, end: loc.end.offset }; }
  function fold(head, tail) {
    return tail.reduce((left, [, op, , right]) => ({ kind: 'binary', op, left, right, at: left.at, end: right.end }), head);
  }
}}

Start = _ e:Expression _ { return e; }

Expression = OrExpr

OrExpr = head:AndExpr tail:(_ OR _ AndExpr)* { return fold(head, tail); }

AndExpr = head:NotExpr tail:(_ AND _ NotExpr)* { return fold(head, tail); }

NotExpr
  = NOT _ arg:NotExpr { return node('unary', { op: 'NOT', arg }, location()); }
  / Predicate

Predicate = arg:Additive tail:(_ PredicateTail)? { return tail === null ? arg : tail[1](arg); }

PredicateTail
  = op:CompareOp _ right:Additive { return (left) => ({ kind: 'binary', op: op === '<>' ? '!=' : op, left, right, at: left.at, end: right.end }); }
  / not:(NOT _)? IN _ "(" _ list:ExpressionList _ ")" { const end = location().end.offset; return (arg) => ({ kind: 'in', arg, list, negated: not !== null, at: arg.at, end }); }
  / IS _ not:(NOT _)? NULL { const end = location().end.offset; return (arg) => ({ kind: 'isNull', arg, negated: not !== null, at: arg.at, end }); }
  / not:(NOT _)? LIKE _ pattern:Additive { return (arg) => ({ kind: 'like', arg, pattern, negated: not !== null, at: arg.at, end: pattern.end }); }

CompareOp = "<=" / ">=" / "<>" / "!=" / "=" / "<" / ">"

Additive = head:Multiplicative tail:(_ ("||" / "+" / "-") _ Multiplicative)* { return fold(head, tail); }

Multiplicative = head:Unary tail:(_ ("*" / "/" / "%") _ Unary)* { return fold(head, tail); }

Unary
  = "-" _ arg:Unary { return node('unary', { op: '-', arg }, location()); }
  / Primary

Primary
  = Literal
  / CaseExpr
  / CastExpr
  / Call
  / Field
  / "(" _ e:Expression _ ")" { return e; }

ExpressionList = head:Expression tail:(_ "," _ Expression)* { return [head, ...tail.map((t) => t[3])]; }

CaseExpr
  = CASE _ branches:(WHEN _ Expression _ THEN _ Expression _)+ other:(ELSE _ Expression _)? END
    { return node('case', { branches: branches.map((b) => ({ when: b[2], then: b[6] })), otherwise: other === null ? null : other[2] }, location()); }

CastExpr
  = CAST _ "(" _ arg:Expression _ AS _ type:TypeName _ ")" { return node('cast', { arg, type: type.toUpperCase() }, location()); }

TypeName = $([A-Za-z]+)

Call
  = name:Identifier _ "(" _ args:ExpressionList? _ ")" { return node('call', { name: name.toUpperCase(), args: args ?? [] }, location()); }

Field
  = head:Name tail:(_ "." _ Name / _ "[" _ Integer _ "]")* { return node('field', { path: [head, ...tail.map((t) => t[3])] }, location()); }

Name
  = Identifier
  / "${'`'}" chars:$([^${'`'}]+) "${'`'}" { return chars; }

Identifier = !Reserved name:$([A-Za-z_][A-Za-z0-9_]*) { return name; }

Integer = digits:$([0-9]+) { return Number(digits); }

Literal
  = NumberLiteral
  / StringLiteral
  / TRUE { return node('literal', { value: true }, location()); }
  / FALSE { return node('literal', { value: false }, location()); }
  / NULL { return node('literal', { value: null }, location()); }

NumberLiteral
  = text:$([0-9]+ ("." [0-9]+)? ([eE] [+-]? [0-9]+)? / "." [0-9]+ ([eE] [+-]? [0-9]+)?) ![A-Za-z_]
    { return node('literal', { value: Number(text) }, location()); }

StringLiteral
  = "'" chars:("''" { return "'"; } / [^'])* "'" { return node('literal', { value: chars.join('') }, location()); }

Reserved = (AND / OR / NOT / IN / IS / NULL / TRUE / FALSE / CASE / WHEN / THEN / ELSE / END / CAST / AS / LIKE) ![A-Za-z0-9_]

AND = "AND"i ![A-Za-z0-9_] { return 'AND'; }
OR = "OR"i ![A-Za-z0-9_] { return 'OR'; }
NOT = "NOT"i ![A-Za-z0-9_] { return 'NOT'; }
IN = "IN"i ![A-Za-z0-9_] { return 'IN'; }
IS = "IS"i ![A-Za-z0-9_] { return 'IS'; }
NULL = "NULL"i ![A-Za-z0-9_] { return 'NULL'; }
TRUE = "TRUE"i ![A-Za-z0-9_] { return 'TRUE'; }
FALSE = "FALSE"i ![A-Za-z0-9_] { return 'FALSE'; }
CASE = "CASE"i ![A-Za-z0-9_] { return 'CASE'; }
WHEN = "WHEN"i ![A-Za-z0-9_] { return 'WHEN'; }
THEN = "THEN"i ![A-Za-z0-9_] { return 'THEN'; }
ELSE = "ELSE"i ![A-Za-z0-9_] { return 'ELSE'; }
END = "END"i ![A-Za-z0-9_] { return 'END'; }
CAST = "CAST"i ![A-Za-z0-9_] { return 'CAST'; }
AS = "AS"i ![A-Za-z0-9_] { return 'AS'; }
LIKE = "LIKE"i ![A-Za-z0-9_] { return 'LIKE'; }

_ "whitespace" = [ \t\r\n]*
`;
