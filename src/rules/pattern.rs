//! (being written: placeholder)
use super::Sample;
use crate::config::pattern::{MatchMethod, Pattern};
#[derive(Debug)]
pub(crate) struct Compiled {
    keys: Vec<Vec<u8>>,
}
impl Compiled {
    pub(crate) fn build(_m: MatchMethod, _i: bool, p: &[Pattern]) -> Compiled {
        Compiled {
            keys: p.iter().map(|Pattern::Bytes(b)| b.clone()).collect(),
        }
    }
    pub(crate) fn lookup(&self, s: &Sample) -> Option<usize> {
        let b = s.to_bytes();
        self.keys.iter().position(|k| *k == *b)
    }
}
