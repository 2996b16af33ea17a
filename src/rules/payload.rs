//! (being written: placeholder signatures)
use super::Parsed;
pub(crate) fn payload(buf: &[u8], offset: usize, len: usize) -> Parsed<&[u8]> {
    match buf.get(offset..offset + len) {
        Some(b) => Parsed::Value(b),
        None => Parsed::Incomplete,
    }
}
pub(crate) fn payload_lv(_buf: &[u8], _o: usize, _l: usize, _o2: Option<i64>) -> Parsed<&[u8]> {
    Parsed::Absent
}
pub(crate) fn rdp_cookie<'a>(_buf: &'a [u8], _name: Option<&str>) -> Parsed<&'a [u8]> {
    Parsed::Absent
}
pub(crate) fn proto_http(_buf: &[u8]) -> Parsed<bool> {
    Parsed::Absent
}
