//! CEL `when` conditions.
//!
//! Every condition is parsed by the `cel` crate once, at policy load. The
//! common shapes (comparisons, logic, field access, `in`, `size`, string
//! predicates, `matches` with a literal pattern) are compiled into a small tree
//! evaluated directly over the action's borrowed JSON: no allocation, no
//! interpreter context. Anything else (`now`, macros, arithmetic, conversions)
//! runs on the crate's interpreter. Both paths give the same answers; the
//! differential tests in this module check it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{Expr, IdedExpr, LiteralValue, operators};
use cel::{Context, Env, Program};
use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use crate::action::ActionView;

/// The variables a condition may reference.
pub const VARIABLES: [&str; 8] = [
    "action",
    "resource",
    "actor",
    "on_behalf_of",
    "env",
    "args",
    "context",
    "now",
];

const NOW: u8 = 7;

/// Why a condition does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The text is not CEL.
    #[error("`when` does not parse at {line}:{column} of the expression: {message}")]
    Parse {
        /// 1-based line within the expression.
        line: usize,
        /// 1-based column within the expression.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A variable other than the ones the policy provides.
    #[error(
        "`when` references unknown variable `{0}` (known: action, resource, actor, on_behalf_of, env, args, context, now)"
    )]
    UnknownVariable(String),
    /// A function or method the evaluator does not have, or the wrong
    /// number of arguments to one it has.
    #[error(
        "`when` calls unknown {kind} `{name}` with {arity} argument(s); known functions: {FUNCTIONS_DOC}; known methods: {METHODS_DOC}"
    )]
    UnknownFunction {
        /// `function` or `method`.
        kind: &'static str,
        /// The name as written.
        name: String,
        /// How many arguments it was given.
        arity: usize,
    },
    /// A `matches` pattern that is not a valid regular expression.
    #[error("`when` has an invalid regular expression `{pattern}`: {message}")]
    BadRegex {
        /// The pattern as written.
        pattern: String,
        /// What the regex compiler said.
        message: String,
    },
}

/// A compiled `when` condition.
pub(crate) struct Condition {
    source: Box<str>,
    program: Program,
    fast: Option<Node>,
    /// Bit `i` set when `VARIABLES[i]` is referenced.
    vars: u8,
    /// The fields read, as variables and literal keys.
    reads: Box<[ReadPath]>,
}

/// A field a condition reads: one of [`VARIABLES`] and the literal keys or
/// indices after it (`args.db["host"]` is `args` + `db`, `host`). Where a key
/// is computed (`args[k]`) or a value is passed whole to a function, macro
/// or operator (`size(args.items)`, `args.items.all(i, ...)`), the path stops
/// there: the condition may read anything below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadPath {
    /// The variable.
    pub var: &'static str,
    /// Keys (and array indices, as decimal text) below it.
    pub keys: Vec<String>,
}

impl ReadPath {
    /// Whether this read may see the value at `var` + `keys` (one path is a
    /// prefix of the other).
    pub fn overlaps(&self, var: &str, keys: &[String]) -> bool {
        self.var == var && self.keys.iter().zip(keys).all(|(a, b)| a == b)
    }
}

impl std::fmt::Display for ReadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.var)?;
        for k in &self.keys {
            write!(f, ".{k}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("source", &self.source)
            .field("fast", &self.fast.is_some())
            .finish()
    }
}

fn shared_env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib()))
}

/// What a condition is evaluated against.
pub(crate) struct Input<'a> {
    pub view: &'a ActionView<'a>,
    pub now: DateTime<Utc>,
}

impl Condition {
    /// Parses and checks `source`.
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        let program = shared_env().compile(source).map_err(|errs| {
            let first = errs.errors.first();
            ConditionError::Parse {
                line: first.map_or(1, |e| e.pos.0.max(1) as usize),
                column: first.map_or(1, |e| e.pos.1.max(0) as usize + 1),
                message: first.map_or_else(|| errs.to_string(), |e| e.msg.clone()),
            }
        })?;
        let mut vars = 0u8;
        let mut bound = Vec::new();
        free_variables(program.expression(), &mut bound, &mut vars)?;
        check_functions(program.expression())?;
        check_regexes(program.expression())?;
        let fast = if vars & (1 << NOW) == 0 {
            compile_node(program.expression())
        } else {
            None
        };
        let mut reads = Vec::new();
        collect_reads(program.expression(), &mut Vec::new(), &mut reads);
        reads.sort_by(|a: &ReadPath, b| (a.var, &a.keys).cmp(&(b.var, &b.keys)));
        reads.dedup();
        Ok(Condition {
            source: source.into(),
            program,
            fast,
            vars,
            reads: reads.into(),
        })
    }

    /// The fields the condition reads.
    pub fn reads(&self) -> &[ReadPath] {
        &self.reads
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the condition reads `now`.
    pub fn uses_now(&self) -> bool {
        self.vars & (1 << NOW) != 0
    }

    /// Evaluates to a boolean; any error, or a non-boolean result, is `Err`.
    pub fn eval(&self, input: &Input<'_>) -> Result<bool, String> {
        match &self.fast {
            Some(node) => match eval_node(node, input.view) {
                Ok(V::Bool(b)) => Ok(b),
                Ok(other) => Err(format!(
                    "condition returned {}, not a bool",
                    other.type_name()
                )),
                Err(e) => Err(e.0),
            },
            None => self.interpret(input),
        }
    }

    /// Evaluates with the `cel` crate's interpreter only.
    pub fn interpret(&self, input: &Input<'_>) -> Result<bool, String> {
        let mut ctx = Context::with_env(Arc::clone(shared_env()));
        let view = input.view;
        for (i, name) in VARIABLES.iter().enumerate() {
            if self.vars & (1 << i) == 0 {
                continue;
            }
            let value = match i {
                0 => str_value(Some(view.name)),
                1 => str_value(view.resource),
                2 => str_value(view.actor.as_deref()),
                3 => str_value(view.on_behalf_of.as_deref()),
                4 => str_value(view.env),
                5 => map_to_cel(view.args),
                6 => map_to_cel(view.context),
                _ => cel::Value::Timestamp(input.now.fixed_offset()),
            };
            ctx.add_variable_from_value(*name, value);
        }
        match self.program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "condition returned {}, not a bool",
                other.type_of()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    #[cfg(test)]
    fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }
}

fn str_value(s: Option<&str>) -> cel::Value {
    match s {
        Some(s) => cel::Value::String(Arc::new(s.to_owned())),
        None => cel::Value::Null,
    }
}

fn map_to_cel(map: &Map<String, Value>) -> cel::Value {
    let m: HashMap<String, cel::Value> = map
        .iter()
        .map(|(k, v)| (k.clone(), json_to_cel(v)))
        .collect();
    cel::Value::from(m)
}

fn json_to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                cel::Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                cel::Value::UInt(u)
            } else {
                cel::Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(json_to_cel).collect())),
        Value::Object(m) => map_to_cel(m),
    }
}

fn free_variables(
    expr: &IdedExpr,
    bound: &mut Vec<String>,
    vars: &mut u8,
) -> Result<(), ConditionError> {
    match &expr.expr {
        Expr::Ident(name) => {
            if bound.iter().any(|b| b == name) {
                return Ok(());
            }
            match VARIABLES.iter().position(|v| v == name) {
                Some(i) => *vars |= 1 << i,
                None => return Err(ConditionError::UnknownVariable(name.clone())),
            }
        }
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                free_variables(t, bound, vars)?;
            }
            for a in &call.args {
                free_variables(a, bound, vars)?;
            }
        }
        Expr::Select(s) => free_variables(&s.operand, bound, vars)?,
        Expr::List(l) => {
            for e in &l.elements {
                free_variables(e, bound, vars)?;
            }
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                match &entry.expr {
                    cel::common::ast::EntryExpr::MapEntry(e) => {
                        free_variables(&e.key, bound, vars)?;
                        free_variables(&e.value, bound, vars)?;
                    }
                    cel::common::ast::EntryExpr::StructField(f) => {
                        free_variables(&f.value, bound, vars)?;
                    }
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                    free_variables(&f.value, bound, vars)?;
                }
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, vars)?;
            free_variables(&c.accu_init, bound, vars)?;
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v2) = &c.iter_var2 {
                bound.push(v2.clone());
            }
            bound.push(c.accu_var.clone());
            free_variables(&c.loop_cond, bound, vars)?;
            free_variables(&c.loop_step, bound, vars)?;
            free_variables(&c.result, bound, vars)?;
            bound.truncate(depth);
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
    Ok(())
}

/// A variable followed by literal selections and indices, as (variable, keys).
fn access_path(expr: &IdedExpr) -> Option<(&str, Vec<String>)> {
    match &expr.expr {
        Expr::Ident(name) => Some((name.as_str(), Vec::new())),
        Expr::Select(s) => {
            let (root, mut keys) = access_path(&s.operand)?;
            keys.push(s.field.clone());
            Some((root, keys))
        }
        Expr::Call(c) if c.func_name == operators::INDEX && c.target.is_none() => {
            let [target, key] = c.args.as_slice() else {
                return None;
            };
            let key = match &key.expr {
                Expr::Literal(LiteralValue::String(s)) => s.inner().to_owned(),
                Expr::Literal(LiteralValue::Int(i)) => i.inner().to_string(),
                Expr::Literal(LiteralValue::UInt(u)) => u.inner().to_string(),
                _ => return None,
            };
            let (root, mut keys) = access_path(target)?;
            keys.push(key);
            Some((root, keys))
        }
        _ => None,
    }
}

/// Collects the longest literal paths the expression reads from its free variables.
fn collect_reads(expr: &IdedExpr, bound: &mut Vec<String>, out: &mut Vec<ReadPath>) {
    if let Some((root, keys)) = access_path(expr) {
        if !bound.iter().any(|b| b == root)
            && let Some(var) = VARIABLES.iter().find(|v| **v == root)
        {
            out.push(ReadPath { var, keys });
        }
        return;
    }
    match &expr.expr {
        Expr::Select(s) => collect_reads(&s.operand, bound, out),
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                collect_reads(t, bound, out);
            }
            for a in &call.args {
                collect_reads(a, bound, out);
            }
        }
        Expr::List(l) => {
            for e in &l.elements {
                collect_reads(e, bound, out);
            }
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                match &entry.expr {
                    cel::common::ast::EntryExpr::MapEntry(e) => {
                        collect_reads(&e.key, bound, out);
                        collect_reads(&e.value, bound, out);
                    }
                    cel::common::ast::EntryExpr::StructField(f) => {
                        collect_reads(&f.value, bound, out);
                    }
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                    collect_reads(&f.value, bound, out);
                }
            }
        }
        Expr::Comprehension(c) => {
            collect_reads(&c.iter_range, bound, out);
            collect_reads(&c.accu_init, bound, out);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v2) = &c.iter_var2 {
                bound.push(v2.clone());
            }
            bound.push(c.accu_var.clone());
            collect_reads(&c.loop_cond, bound, out);
            collect_reads(&c.loop_step, bound, out);
            collect_reads(&c.result, bound, out);
            bound.truncate(depth);
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The global functions a condition may call, with their argument counts.
pub const FUNCTIONS: &[(&str, &[usize])] = &[
    ("size", &[1]),
    ("matches", &[2]),
    ("bool", &[1]),
    ("bytes", &[1]),
    ("double", &[1]),
    ("dyn", &[1]),
    ("int", &[1]),
    ("uint", &[1]),
    ("string", &[1]),
    ("type", &[1]),
    ("duration", &[1]),
    ("timestamp", &[1]),
];

/// The methods (`target.name(...)`) a condition may call, with their
/// argument counts (the time-zone argument of the timestamp getters is optional).
pub const METHODS: &[(&str, &[usize])] = &[
    ("size", &[0]),
    ("contains", &[1]),
    ("startsWith", &[1]),
    ("endsWith", &[1]),
    ("matches", &[1]),
    ("getFullYear", &[0, 1]),
    ("getMonth", &[0, 1]),
    ("getDayOfYear", &[0, 1]),
    ("getDayOfMonth", &[0, 1]),
    ("getDate", &[0, 1]),
    ("getDayOfWeek", &[0, 1]),
    ("getHours", &[0, 1]),
    ("getMinutes", &[0, 1]),
    ("getSeconds", &[0, 1]),
    ("getMilliseconds", &[0, 1]),
];

const FUNCTIONS_DOC: &str =
    "size, matches, bool, bytes, double, dyn, int, uint, string, type, duration, timestamp";
const METHODS_DOC: &str = "size, contains, startsWith, endsWith, matches, getFullYear, getMonth, getDayOfYear, getDayOfMonth, getDate, getDayOfWeek, getHours, getMinutes, getSeconds, getMilliseconds; macros: has, all, exists, exists_one, map, filter";

/// The operators the parser produces, with their operand counts.
const OPERATORS: &[(&str, usize)] = &[
    (operators::CONDITIONAL, 3),
    (operators::LOGICAL_AND, 2),
    (operators::LOGICAL_OR, 2),
    (operators::LOGICAL_NOT, 1),
    (operators::SUBSTRACT, 2),
    (operators::ADD, 2),
    (operators::MULTIPLY, 2),
    (operators::DIVIDE, 2),
    (operators::MODULO, 2),
    (operators::EQUALS, 2),
    (operators::NOT_EQUALS, 2),
    (operators::GREATER_EQUALS, 2),
    (operators::LESS_EQUALS, 2),
    (operators::GREATER, 2),
    (operators::LESS, 2),
    (operators::NEGATE, 1),
    (operators::INDEX, 2),
    (operators::IN, 2),
    (operators::NOT_STRICTLY_FALSE, 1),
];

/// Refuses every call of a function, method or operator the evaluator does
/// not have (or with the wrong number of arguments): such a condition would
/// fail at run time on every action, which makes a deny or approve rule
/// match everything.
fn check_functions(expr: &IdedExpr) -> Result<(), ConditionError> {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match &e.expr {
            Expr::Call(call) => {
                let name = call.func_name.as_str();
                let n = call.args.len();
                let known = match &call.target {
                    None => {
                        OPERATORS.iter().any(|(op, k)| *op == name && *k == n)
                            || FUNCTIONS.iter().any(|(f, k)| *f == name && k.contains(&n))
                    }
                    Some(_) => METHODS.iter().any(|(f, k)| *f == name && k.contains(&n)),
                };
                if !known {
                    let kind = if call.target.is_some() {
                        "method"
                    } else {
                        "function"
                    };
                    return Err(ConditionError::UnknownFunction {
                        kind,
                        name: name.to_owned(),
                        arity: n,
                    });
                }
                stack.extend(call.target.as_deref());
                stack.extend(call.args.iter());
            }
            Expr::Select(s) => stack.push(&s.operand),
            Expr::List(l) => stack.extend(l.elements.iter()),
            Expr::Map(m) => {
                for entry in &m.entries {
                    match &entry.expr {
                        cel::common::ast::EntryExpr::MapEntry(x) => {
                            stack.push(&x.key);
                            stack.push(&x.value);
                        }
                        cel::common::ast::EntryExpr::StructField(f) => stack.push(&f.value),
                    }
                }
            }
            Expr::Struct(st) => {
                for entry in &st.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                        stack.push(&f.value);
                    }
                }
            }
            Expr::Comprehension(c) => {
                stack.extend([
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ]);
            }
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    Ok(())
}

fn literal_str(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}

/// The pattern of a `matches` call, as (target, pattern expression).
fn matches_parts(call: &cel::common::ast::CallExpr) -> Option<(&IdedExpr, &IdedExpr)> {
    if call.func_name != "matches" {
        return None;
    }
    match (&call.target, call.args.as_slice()) {
        (Some(t), [p]) => Some((t, p)),
        (None, [t, p]) => Some((t, p)),
        _ => None,
    }
}

fn check_regexes(expr: &IdedExpr) -> Result<(), ConditionError> {
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match &e.expr {
            Expr::Call(call) => {
                if let Some((_, p)) = matches_parts(call)
                    && let Some(pattern) = literal_str(p)
                {
                    Regex::new(pattern).map_err(|err| ConditionError::BadRegex {
                        pattern: pattern.to_owned(),
                        message: err.to_string(),
                    })?;
                }
                stack.extend(call.target.as_deref());
                stack.extend(call.args.iter());
            }
            Expr::Select(s) => stack.push(&s.operand),
            Expr::List(l) => stack.extend(l.elements.iter()),
            Expr::Comprehension(c) => {
                stack.extend([
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ]);
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The compiled fast path.

#[derive(Debug)]
enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Box<str>),
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy)]
enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug)]
enum Node {
    Lit(Lit),
    LitList(Box<[Lit]>),
    Var(u8),
    Select(Box<Node>, Box<str>),
    Has(Box<Node>, Box<str>),
    Index(Box<Node>, Box<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<[Node; 3]>),
    Cmp(Cmp, Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    Size(Box<Node>),
    Str(StrOp, Box<Node>, Box<Node>),
    Matches(Box<Node>, Regex),
}

fn compile_lit(l: &LiteralValue) -> Option<Lit> {
    Some(match l {
        LiteralValue::Boolean(b) => Lit::Bool(*b.inner()),
        LiteralValue::Int(i) => Lit::Int(*i.inner()),
        LiteralValue::UInt(u) => Lit::UInt(*u.inner()),
        LiteralValue::Double(d) => Lit::Double(*d.inner()),
        LiteralValue::String(s) => Lit::Str(s.inner().into()),
        LiteralValue::Null => Lit::Null,
        LiteralValue::Bytes(_) => return None,
    })
}

fn compile_node(expr: &IdedExpr) -> Option<Node> {
    let b = |e: &IdedExpr| compile_node(e).map(Box::new);
    Some(match &expr.expr {
        Expr::Literal(l) => Node::Lit(compile_lit(l)?),
        Expr::Ident(name) => {
            let i = VARIABLES.iter().position(|v| v == name)?;
            if i as u8 == NOW {
                return None;
            }
            Node::Var(i as u8)
        }
        Expr::Select(s) if s.test => Node::Has(b(&s.operand)?, s.field.as_str().into()),
        Expr::Select(s) => Node::Select(b(&s.operand)?, s.field.as_str().into()),
        Expr::List(l) if l.optional_indices.is_empty() => {
            let mut lits = Vec::with_capacity(l.elements.len());
            for e in &l.elements {
                match &e.expr {
                    Expr::Literal(lit) => lits.push(compile_lit(lit)?),
                    _ => return None,
                }
            }
            Node::LitList(lits.into())
        }
        Expr::Call(call) => {
            let args = call.args.as_slice();
            match (call.func_name.as_str(), call.target.as_deref(), args) {
                (operators::LOGICAL_AND, None, [x, y]) => Node::And(b(x)?, b(y)?),
                (operators::LOGICAL_OR, None, [x, y]) => Node::Or(b(x)?, b(y)?),
                (operators::LOGICAL_NOT, None, [x]) => Node::Not(b(x)?),
                (operators::CONDITIONAL, None, [c, t, f]) => Node::Cond(Box::new([
                    compile_node(c)?,
                    compile_node(t)?,
                    compile_node(f)?,
                ])),
                (operators::EQUALS, None, [x, y]) => Node::Cmp(Cmp::Eq, b(x)?, b(y)?),
                (operators::NOT_EQUALS, None, [x, y]) => Node::Cmp(Cmp::Ne, b(x)?, b(y)?),
                (operators::LESS, None, [x, y]) => Node::Cmp(Cmp::Lt, b(x)?, b(y)?),
                (operators::LESS_EQUALS, None, [x, y]) => Node::Cmp(Cmp::Le, b(x)?, b(y)?),
                (operators::GREATER, None, [x, y]) => Node::Cmp(Cmp::Gt, b(x)?, b(y)?),
                (operators::GREATER_EQUALS, None, [x, y]) => Node::Cmp(Cmp::Ge, b(x)?, b(y)?),
                (operators::IN, None, [x, y]) => Node::In(b(x)?, b(y)?),
                (operators::INDEX, None, [x, y]) => Node::Index(b(x)?, b(y)?),
                ("size", None, [x]) | ("size", Some(x), []) => Node::Size(b(x)?),
                ("startsWith", Some(t), [x]) => Node::Str(StrOp::StartsWith, b(t)?, b(x)?),
                ("endsWith", Some(t), [x]) => Node::Str(StrOp::EndsWith, b(t)?, b(x)?),
                ("contains", Some(t), [x]) => Node::Str(StrOp::Contains, b(t)?, b(x)?),
                ("matches", _, _) => {
                    let (t, p) = matches_parts(call)?;
                    let re = Regex::new(literal_str(p)?).ok()?;
                    Node::Matches(b(t)?, re)
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A value during fast evaluation, borrowed from the action or the policy.
#[derive(Debug, Clone, Copy)]
enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(&'a str),
    List(&'a [Value]),
    LitList(&'a [Lit]),
    Map(&'a Map<String, Value>),
}

impl V<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            V::Null => "null",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::UInt(_) => "uint",
            V::Double(_) => "double",
            V::Str(_) => "string",
            V::List(_) | V::LitList(_) => "list",
            V::Map(_) => "map",
        }
    }
}

struct EvalError(String);

fn overload<T>(op: &str, args: &[V<'_>]) -> Result<T, EvalError> {
    let types: Vec<&str> = args.iter().map(V::type_name).collect();
    Err(EvalError(format!(
        "no such overload: `{op}` on ({})",
        types.join(", ")
    )))
}

fn from_json(v: &Value) -> V<'_> {
    match v {
        Value::Null => V::Null,
        Value::Bool(b) => V::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                V::Int(i)
            } else if let Some(u) = n.as_u64() {
                V::UInt(u)
            } else {
                V::Double(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => V::Str(s),
        Value::Array(a) => V::List(a),
        Value::Object(m) => V::Map(m),
    }
}

fn from_lit(l: &Lit) -> V<'_> {
    match l {
        Lit::Null => V::Null,
        Lit::Bool(b) => V::Bool(*b),
        Lit::Int(i) => V::Int(*i),
        Lit::UInt(u) => V::UInt(*u),
        Lit::Double(d) => V::Double(*d),
        Lit::Str(s) => V::Str(s),
    }
}

fn opt_str(s: Option<&str>) -> V<'_> {
    s.map_or(V::Null, V::Str)
}

fn eval_node<'a>(node: &'a Node, view: &'a ActionView<'a>) -> Result<V<'a>, EvalError> {
    Ok(match node {
        Node::Lit(l) => from_lit(l),
        Node::LitList(l) => V::LitList(l),
        Node::Var(i) => match i {
            0 => V::Str(view.name),
            1 => opt_str(view.resource),
            2 => opt_str(view.actor.as_deref()),
            3 => opt_str(view.on_behalf_of.as_deref()),
            4 => opt_str(view.env),
            5 => V::Map(view.args),
            _ => V::Map(view.context),
        },
        Node::Select(operand, field) => match eval_node(operand, view)? {
            V::Map(m) => match m.get(&**field) {
                Some(v) => from_json(v),
                None => return Err(EvalError(format!("no such key: `{field}`"))),
            },
            other => return overload("_._", &[other, V::Str(field)]),
        },
        Node::Has(operand, field) => match eval_node(operand, view)? {
            V::Map(m) => V::Bool(m.contains_key(&**field)),
            other => return overload("has", &[other, V::Str(field)]),
        },
        Node::Index(operand, index) => {
            let container = eval_node(operand, view)?;
            let index = eval_node(index, view)?;
            match (container, index) {
                (V::Map(m), V::Str(k)) => match m.get(k) {
                    Some(v) => from_json(v),
                    None => return Err(EvalError(format!("no such key: `{k}`"))),
                },
                (V::List(l), V::Int(i)) => match usize::try_from(i).ok().and_then(|i| l.get(i)) {
                    Some(v) => from_json(v),
                    None => return Err(EvalError(format!("index out of bounds: {i}"))),
                },
                (V::List(l), V::UInt(i)) => match usize::try_from(i).ok().and_then(|i| l.get(i)) {
                    Some(v) => from_json(v),
                    None => return Err(EvalError(format!("index out of bounds: {i}"))),
                },
                (c, i) => return overload("_[_]", &[c, i]),
            }
        }
        Node::Not(x) => match eval_node(x, view)? {
            V::Bool(b) => V::Bool(!b),
            other => return overload("!_", &[other]),
        },
        Node::And(x, y) => logic(eval_node(x, view), || eval_node(y, view), false)?,
        Node::Or(x, y) => logic(eval_node(x, view), || eval_node(y, view), true)?,
        Node::Cond(parts) => {
            let [c, t, f] = &**parts;
            match eval_node(c, view)? {
                V::Bool(true) => eval_node(t, view)?,
                V::Bool(false) => eval_node(f, view)?,
                other => return overload("_?_:_", &[other]),
            }
        }
        Node::Cmp(op, x, y) => {
            let a = eval_node(x, view)?;
            let b = eval_node(y, view)?;
            V::Bool(match op {
                Cmp::Eq => equal(a, b),
                Cmp::Ne => !equal(a, b),
                Cmp::Lt => order(a, b)? == Ordering::Less,
                Cmp::Le => order(a, b)? != Ordering::Greater,
                Cmp::Gt => order(a, b)? == Ordering::Greater,
                Cmp::Ge => order(a, b)? != Ordering::Less,
            })
        }
        Node::In(x, y) => {
            let needle = eval_node(x, view)?;
            match eval_node(y, view)? {
                V::List(l) => V::Bool(l.iter().any(|e| equal(needle, from_json(e)))),
                V::LitList(l) => V::Bool(l.iter().any(|e| equal(needle, from_lit(e)))),
                V::Map(m) => V::Bool(match needle {
                    V::Str(k) => m.contains_key(k),
                    _ => false,
                }),
                other => return overload("@in", &[needle, other]),
            }
        }
        Node::Size(x) => match eval_node(x, view)? {
            V::Str(s) => V::Int(s.chars().count() as i64),
            V::List(l) => V::Int(l.len() as i64),
            V::LitList(l) => V::Int(l.len() as i64),
            V::Map(m) => V::Int(m.len() as i64),
            other => return overload("size", &[other]),
        },
        Node::Str(op, t, x) => match (eval_node(t, view)?, eval_node(x, view)?) {
            (V::Str(s), V::Str(p)) => V::Bool(match op {
                StrOp::StartsWith => s.starts_with(p),
                StrOp::EndsWith => s.ends_with(p),
                StrOp::Contains => s.contains(p),
            }),
            (a, b) => {
                let name = match op {
                    StrOp::StartsWith => "startsWith",
                    StrOp::EndsWith => "endsWith",
                    StrOp::Contains => "contains",
                };
                return overload(name, &[a, b]);
            }
        },
        Node::Matches(t, re) => match eval_node(t, view)? {
            V::Str(s) => V::Bool(re.is_match(s)),
            other => return overload("matches", &[other]),
        },
    })
}

/// CEL's commutative `&&` / `||`: the absorbing value wins over an error on
/// either side.
fn logic<'a>(
    first: Result<V<'a>, EvalError>,
    second: impl FnOnce() -> Result<V<'a>, EvalError>,
    absorbing: bool,
) -> Result<V<'a>, EvalError> {
    if let Ok(V::Bool(b)) = first
        && b == absorbing
    {
        return Ok(V::Bool(absorbing));
    }
    let second = second();
    if let Ok(V::Bool(b)) = second
        && b == absorbing
    {
        return Ok(V::Bool(absorbing));
    }
    let op = if absorbing { "_||_" } else { "_&&_" };
    match (first?, second?) {
        (V::Bool(_), V::Bool(_)) => Ok(V::Bool(!absorbing)),
        (a, b) => overload(op, &[a, b]),
    }
}

fn num_cmp(a: V<'_>, b: V<'_>) -> Option<Option<Ordering>> {
    Some(match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(&y)),
        (V::UInt(x), V::UInt(y)) => Some(x.cmp(&y)),
        (V::Double(x), V::Double(y)) => x.partial_cmp(&y),
        (V::Int(x), V::UInt(y)) => Some(if x < 0 {
            Ordering::Less
        } else {
            (x as u64).cmp(&y)
        }),
        (V::UInt(x), V::Int(y)) => Some(if y < 0 {
            Ordering::Greater
        } else {
            x.cmp(&(y as u64))
        }),
        (V::Int(x), V::Double(y)) => (x as f64).partial_cmp(&y),
        (V::Double(x), V::Int(y)) => x.partial_cmp(&(y as f64)),
        (V::UInt(x), V::Double(y)) => (x as f64).partial_cmp(&y),
        (V::Double(x), V::UInt(y)) => x.partial_cmp(&(y as f64)),
        _ => return None,
    })
}

fn equal(a: V<'_>, b: V<'_>) -> bool {
    if let Some(o) = num_cmp(a, b) {
        return o == Some(Ordering::Equal);
    }
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Map(x), V::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equal(from_json(v), from_json(w))))
        }
        (a, b) => match (list_items(a), list_items(b)) {
            (Some(x), Some(y)) => {
                x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(*p, *q))
            }
            _ => false,
        },
    }
}

fn list_items(v: V<'_>) -> Option<Vec<V<'_>>> {
    match v {
        V::List(l) => Some(l.iter().map(from_json).collect()),
        V::LitList(l) => Some(l.iter().map(from_lit).collect()),
        _ => None,
    }
}

fn order(a: V<'_>, b: V<'_>) -> Result<Ordering, EvalError> {
    match num_cmp(a, b) {
        Some(Some(o)) => return Ok(o),
        Some(None) => return Err(EvalError("comparison with NaN".to_owned())),
        None => {}
    }
    match (a, b) {
        (V::Str(x), V::Str(y)) => Ok(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Ok(x.cmp(&y)),
        (a, b) => overload("_<_", &[a, b]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;
    use serde_json::json;

    fn action() -> Action {
        Action::new("db.export")
            .actor("agent:bot")
            .on_behalf_of("user:alice@example.com")
            .resource("postgres://prod/customers")
            .env("prod")
            .args(json!({
                "rows": 50000, "big": 18446744073709551615u64, "ratio": 1.5, "neg": -3,
                "sql": "select * from t; DROP  TABLE users", "name": "h\u{e9}llo",
                "tags": ["a", "b"], "nested": {"x": {"y": 1}}, "flag": true, "none": null,
                "nums": [1, 2.0, 3]
            }))
            .context(json!({"labels": ["pii"], "trace": "t-1"}))
    }

    /// Expressions covering every node of the fast path, each checked to give
    /// exactly what the `cel` crate's interpreter gives (value or error).
    const CASES: &[&str] = &[
        "args.rows > 1000",
        "args.rows >= 50000 && env == \"prod\"",
        "args.rows < 10 || env == \"prod\"",
        "args.missing > 1",
        "args.missing > 1 && false",
        "false && args.missing > 1",
        "args.missing > 1 || true",
        "true || args.missing",
        "args.missing || false",
        "args.missing && true",
        "!args.flag",
        "!args.rows",
        "args.ratio > 1",
        "args.ratio < 2.0",
        "args.big > 1",
        "args.big == 18446744073709551615u",
        "args.neg < 0u",
        "args.rows == 50000.0",
        "args.rows == \"50000\"",
        "args.rows > \"1\"",
        "args.none == null",
        "env != \"staging\"",
        "resource.startsWith(\"postgres://prod/\")",
        "resource.endsWith(\"customers\")",
        "args.sql.contains(\"DROP\")",
        "args.sql.matches(\"(?i)\\\\bdrop\\\\s+table\\\\b\")",
        "matches(args.sql, \"^select\")",
        "args.rows.startsWith(\"5\")",
        "args.rows.matches(\"5\")",
        "\"pii\" in context.labels",
        "\"phi\" in context.labels",
        "\"trace\" in context",
        "1 in context",
        "2 in args.nums",
        "2u in args.nums",
        "\"a\" in [\"a\", \"b\"]",
        "args.rows in [1, 50000]",
        "args.rows in args.name",
        "size(args.name) == 5",
        "args.tags.size() == 2",
        "size(args) > 3",
        "size(args.rows) > 1",
        "has(args.flag)",
        "has(args.nope)",
        "has(args.rows.x)",
        "args.nested.x.y == 1",
        "args.nested.x.z == 1",
        "args.rows.x == 1",
        "args[\"rows\"] > 1",
        "args.tags[0] == \"a\"",
        "args.tags[5] == \"a\"",
        "args.tags[-1] == \"a\"",
        "args[1] == 1",
        "args.flag ? args.rows > 1 : false",
        "args.rows ? true : false",
        "actor == \"agent:bot\"",
        "on_behalf_of.endsWith(\"@example.com\")",
        "action == \"db.export\"",
        "args.tags == [\"a\", \"b\"]",
        "args.nested == args.nested",
        "args.tags == args.nums",
        "args.flag < true",
        "args.name < \"z\"",
        "args.rows",
        "args.name",
        "context.trace == \"t-1\" && args.rows > 1 && env == \"prod\"",
    ];

    #[test]
    fn fast_path_agrees_with_the_cel_crate() {
        let action = action();
        let view = action.view().unwrap();
        let input = Input {
            view: &view,
            now: Utc::now(),
        };
        for src in CASES {
            let cond = Condition::compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert!(cond.has_fast_path(), "{src} has no fast path");
            let fast = cond.eval(&input);
            let slow = cond.interpret(&input);
            assert_eq!(
                fast.is_ok(),
                slow.is_ok(),
                "{src}: fast {fast:?} vs crate {slow:?}"
            );
            if let (Ok(a), Ok(b)) = (&fast, &slow) {
                assert_eq!(a, b, "{src}");
            }
        }
    }

    #[test]
    fn now_and_macros_use_the_interpreter() {
        let action = action();
        let view = action.view().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-21T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let input = Input { view: &view, now };
        for (src, want) in [
            ("now.getHours() >= 22", true),
            ("now > timestamp(\"2026-06-01T00:00:00Z\")", true),
            ("args.tags.exists(t, t == \"b\")", true),
            ("args.rows * 2 > 100000", false),
        ] {
            let cond = Condition::compile(src).unwrap();
            assert!(!cond.has_fast_path(), "{src}");
            assert_eq!(cond.eval(&input), Ok(want), "{src}");
        }
    }

    #[test]
    fn reads_are_the_literal_paths_below_each_variable() {
        let reads = |src: &str| -> Vec<String> {
            Condition::compile(src)
                .unwrap()
                .reads()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            reads(r#"args.db["host"] == "x" && args.rows > 1 && context.ticket != """#),
            ["args.db.host", "args.rows", "context.ticket"]
        );
        assert_eq!(reads("has(args.password)"), ["args.password"]);
        assert_eq!(reads("args.items[0].id == 1"), ["args.items.0.id"]);
        // computed keys and whole values stop the path
        assert_eq!(reads(r#"args[action] == 1"#), ["action", "args"]);
        assert_eq!(
            reads("args.items.all(i, i.secret == 'x') && size(args.tags) > 0"),
            ["args.items", "args.tags"]
        );
        assert_eq!(
            reads("actor.startsWith('agent:') && now.getHours() > 8"),
            ["actor", "now"]
        );
        let p = ReadPath {
            var: "args",
            keys: vec!["db".into()],
        };
        assert!(p.overlaps("args", &["db".into(), "password".into()]));
        assert!(p.overlaps("args", &[]));
        assert!(!p.overlaps("args", &["dbx".into()]));
        assert!(!p.overlaps("context", &["db".into()]));
    }

    #[test]
    fn compile_errors_are_specific() {
        assert!(matches!(
            Condition::compile("args.rows >"),
            Err(ConditionError::Parse { .. })
        ));
        assert_eq!(
            Condition::compile("foo > 1").unwrap_err(),
            ConditionError::UnknownVariable("foo".into())
        );
        assert!(Condition::compile("args.tags.exists(t, t == \"b\")").is_ok());
        assert!(matches!(
            Condition::compile("args.x.matches(\"(\")"),
            Err(ConditionError::BadRegex { .. })
        ));
    }
}
