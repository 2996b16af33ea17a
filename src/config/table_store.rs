//! A `stick-table` line's `store` list (HAProxy 2.6 configuration manual,
//! `stick-table` in section 4.2): data types with their arguments, a
//! rate's period and an array's element count (`gpc(3)`,
//! `gpc_rate(3,10s)`), read the way HAProxy's `parse_stick_table` reads
//! them, with its messages. The stick-table parser hands each list here.

use std::time::Duration;

use super::model::{DATA_TYPES, DataType};
use super::values::parse_time;

/// HAProxy's `STKTABLE_MAX_DT_ARRAY_SIZE`: the largest array in `store`.
pub(super) const MAX_ARRAY: usize = 100;

/// What the `store` lists of one table gave so far.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Store {
    /// Types with a rate's period, in the order written.
    pub types: Vec<(DataType, Option<Duration>)>,
    /// Element counts of the array types.
    pub arrays: Vec<(DataType, usize)>,
}

/// Reads one `store` list into `store`; a type given twice is a warning
/// (HAProxy keeps the first). An error ends the list.
pub(super) fn store_list(
    list: &str,
    store: &mut Store,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    for item in items(list)? {
        let Some((_, t)) = DATA_TYPES.iter().find(|(n, _)| *n == item.name) else {
            return Err(format!("unknown store option '{}'.", item.name));
        };
        if store.types.iter().any(|(s, _)| s == t) {
            warnings.push(format!(
                "store option '{}' already enabled, ignored.",
                item.name
            ));
            continue;
        }
        let missing = || format!("missing argument to store option '{}'.", item.name);
        let mut arg = item.arg;
        if t.is_array() {
            // The element count first (C's atoi: junk reads as 0).
            let n = atoi(arg.ok_or_else(missing)?);
            if n == 0 || n > MAX_ARRAY as i64 {
                return Err(format!(
                    "array size is out of allowed range (1-{MAX_ARRAY}) for store option '{}'.",
                    item.name
                ));
            }
            store.arrays.push((*t, n as usize));
            arg = item.arg2;
        }
        let period = if t.is_rate() {
            let a = arg.ok_or_else(missing)?;
            Some(
                parse_time(a, 1000)
                    .map_err(|_| format!("error when processing store option '{}'.", item.name))?,
            )
        } else if arg.is_some() {
            return Err(format!(
                "unexpected argument to store option '{}'.",
                item.name
            ));
        } else {
            None
        };
        store.types.push((*t, period));
    }
    let has = |t: DataType| store.types.iter().any(|(s, _)| *s == t);
    if has(DataType::Gpt) && has(DataType::Gpt0) {
        return Err("simultaneous usage of 'gpt' and 'gpt0' in a same table is not permitted as 'gpt' overrides 'gpt0'.".into());
    }
    if has(DataType::Gpc) && (has(DataType::Gpc0) || has(DataType::Gpc1)) {
        return Err("simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'.".into());
    }
    if has(DataType::GpcRate) && (has(DataType::Gpc0Rate) || has(DataType::Gpc1Rate)) {
        return Err("simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate' in a same table is not permitted as 'gpc_rate' overrides 'gpc[0/1]_rate'.".into());
    }
    Ok(())
}

/// One item of a list: `name`, `name(arg)` or `name(arg,arg2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item<'a> {
    name: &'a str,
    arg: Option<&'a str>,
    arg2: Option<&'a str>,
}

/// Splits a list at the commas outside parentheses, as HAProxy does:
/// what follows a `)` up to the next comma is ignored, and of several
/// commas inside parentheses the last one starts the second argument.
fn items(list: &str) -> Result<Vec<Item<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let end = rest.find([',', '(']).unwrap_or(rest.len());
        let name = &rest[..end];
        let (mut arg, mut arg2) = (None, None);
        rest = &rest[end..];
        if let Some(inner) = rest.strip_prefix('(') {
            let close = inner.find(')').ok_or_else(|| {
                format!("missing closing parenthesis after store option '{name}'.")
            })?;
            let args = &inner[..close];
            match args.rsplit_once(',') {
                Some((first, second)) => {
                    arg = Some(first.split(',').next().unwrap_or(first));
                    arg2 = Some(second);
                }
                None => arg = Some(args),
            }
            rest = &inner[close + 1..];
            rest = rest.find(',').map_or("", |c| &rest[c..]);
        }
        out.push(Item { name, arg, arg2 });
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(out)
}

/// C's `atoi`: blanks, a sign and the leading digits; 0 when none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n: i64 = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |v, d| {
            v.saturating_mul(10).saturating_add((d - b'0') as i64)
        });
    if neg { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Option<Duration> = |s| Some(Duration::from_secs(s));

    #[test]
    fn lists_read_as_haproxy_reads_them() {
        use DataType::*;
        // (description, list, types, arrays)
        #[allow(clippy::type_complexity)]
        let cases: &[(
            &str,
            &str,
            &[(DataType, Option<Duration>)],
            &[(DataType, usize)],
        )] = &[
            (
                "scalars",
                "conn_cnt,gpc0",
                &[(ConnCnt, None), (Gpc0, None)],
                &[],
            ),
            ("a rate", "conn_rate(10s)", &[(ConnRate, S(10))], &[]),
            (
                "a bare number is in ms",
                "conn_rate(1500)",
                &[(ConnRate, Some(Duration::from_millis(1500)))],
                &[],
            ),
            ("an array", "gpc(3)", &[(Gpc, None)], &[(Gpc, 3)]),
            (
                "arrays with a rate",
                "gpt(2),gpc_rate(4,1m),conn_cur",
                &[(Gpt, None), (GpcRate, S(60)), (ConnCur, None)],
                &[(Gpt, 2), (GpcRate, 4)],
            ),
            (
                "atoi reads the leading digits",
                "gpc(5x)",
                &[(Gpc, None)],
                &[(Gpc, 5)],
            ),
            (
                "the largest array",
                "gpc(100)",
                &[(Gpc, None)],
                &[(Gpc, 100)],
            ),
            (
                "arrays beside the other legacy types",
                "gpc(2),gpc0_rate(10s)",
                &[(Gpc, None), (Gpc0Rate, S(10))],
                &[(Gpc, 2)],
            ),
            (
                "text after ')' up to the comma is ignored",
                "gpc(2)junk,gpt0",
                &[(Gpc, None), (Gpt0, None)],
                &[(Gpc, 2)],
            ),
        ];
        for (what, list, types, arrays) in cases {
            let mut store = Store::default();
            let mut warnings = Vec::new();
            store_list(list, &mut store, &mut warnings).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(store.types, *types, "{what}");
            assert_eq!(store.arrays, *arrays, "{what}");
            assert!(warnings.is_empty(), "{what}: {warnings:?}");
        }
    }

    #[test]
    fn mistakes_get_haproxys_messages() {
        let cases: &[(&str, &str, &str)] = &[
            ("unknown", "bogus", "unknown store option 'bogus'."),
            (
                "an array without its size",
                "gpc",
                "missing argument to store option 'gpc'.",
            ),
            (
                "an array rate without its period",
                "gpc_rate(3)",
                "missing argument to store option 'gpc_rate'.",
            ),
            (
                "a rate without its period",
                "conn_rate",
                "missing argument to store option 'conn_rate'.",
            ),
            (
                "an empty array",
                "gpt(0)",
                "array size is out of allowed range (1-100) for store option 'gpt'.",
            ),
            (
                "too large an array",
                "gpc(101)",
                "array size is out of allowed range (1-100) for store option 'gpc'.",
            ),
            (
                "not a number",
                "gpc(x)",
                "array size is out of allowed range (1-100) for store option 'gpc'.",
            ),
            (
                "a period on an array of counters",
                "gpc(3,10s)",
                "unexpected argument to store option 'gpc'.",
            ),
            (
                "an argument to a counter",
                "conn_cnt(5)",
                "unexpected argument to store option 'conn_cnt'.",
            ),
            (
                "a bad period",
                "gpc_rate(2,10x)",
                "error when processing store option 'gpc_rate'.",
            ),
            (
                "an empty period",
                "conn_rate()",
                "error when processing store option 'conn_rate'.",
            ),
            (
                "no closing parenthesis",
                "gpc_rate(2,10s",
                "missing closing parenthesis after store option 'gpc_rate'.",
            ),
            (
                "gpt and gpt0",
                "gpt0,gpt(2)",
                "simultaneous usage of 'gpt' and 'gpt0' in a same table is not permitted as 'gpt' overrides 'gpt0'.",
            ),
            (
                "gpc and gpc1",
                "gpc(2),gpc1",
                "simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'.",
            ),
            (
                "gpc_rate and gpc0_rate",
                "gpc0_rate(1s),gpc_rate(2,1s)",
                "simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate' in a same table is not permitted as 'gpc_rate' overrides 'gpc[0/1]_rate'.",
            ),
        ];
        for (what, list, want) in cases {
            let mut store = Store::default();
            let e = store_list(list, &mut store, &mut Vec::new()).unwrap_err();
            assert_eq!(e, *want, "{what}");
        }
    }

    #[test]
    fn a_type_given_twice_is_a_warning() {
        let mut store = Store::default();
        let mut warnings = Vec::new();
        store_list("gpc(2),conn_cnt", &mut store, &mut warnings).unwrap();
        store_list("gpc(5)", &mut store, &mut warnings).unwrap();
        assert_eq!(warnings, ["store option 'gpc' already enabled, ignored."]);
        assert_eq!(store.arrays, [(DataType::Gpc, 2)], "the first kept");
    }
}
