//! (being written: a placeholder with the agreed types)
#![allow(dead_code)]

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMethod {
    Found,
    Bool,
    Int,
    Ip,
    Bin,
    Len,
    Str,
    Sub,
    Reg,
    Beg,
    End,
    Dir,
    Dom,
}

impl MatchMethod {
    pub fn name(self) -> &'static str {
        use MatchMethod::*;
        match self {
            Found => "found",
            Bool => "bool",
            Int => "int",
            Ip => "ip",
            Bin => "bin",
            Len => "len",
            Str => "str",
            Sub => "sub",
            Reg => "reg",
            Beg => "beg",
            End => "end",
            Dir => "dir",
            Dom => "dom",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        use MatchMethod::*;
        Some(match s {
            "found" => Found,
            "bool" => Bool,
            "int" => Int,
            "ip" => Ip,
            "bin" => Bin,
            "len" => Len,
            "str" => Str,
            "sub" => Sub,
            "reg" => Reg,
            "beg" => Beg,
            "end" => End,
            "dir" => Dir,
            "dom" => Dom,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOp {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

#[derive(Debug, Clone)]
pub enum Pattern {
    Bytes(Vec<u8>),
}

pub fn parse_pattern(
    _method: MatchMethod,
    _op: Option<IntOp>,
    _icase: bool,
    text: &str,
) -> Result<Pattern, String> {
    Ok(Pattern::Bytes(text.as_bytes().to_vec()))
}

pub fn parse_pattern_file(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

pub fn parse_map_file(text: &str) -> Vec<(usize, String, String)> {
    parse_pattern_file(text)
        .into_iter()
        .map(|(n, l)| {
            let (k, v) = l.split_once([' ', '\t']).unwrap_or((&l, ""));
            (n, k.to_string(), v.trim().to_string())
        })
        .collect()
}
