//! (being written: placeholder signatures)
use super::Parsed;
pub(crate) fn ssl_hello_type(_buf: &[u8]) -> Parsed<i64> {
    Parsed::Absent
}
pub(crate) fn ssl_ver(_buf: &[u8]) -> Parsed<i64> {
    Parsed::Absent
}
pub(crate) fn ssl_sni(_buf: &[u8]) -> Parsed<&[u8]> {
    Parsed::Absent
}
pub(crate) fn ssl_alpn(_buf: &[u8]) -> Parsed<&[u8]> {
    Parsed::Absent
}
pub(crate) fn ssl_ec_ext(_buf: &[u8]) -> Parsed<bool> {
    Parsed::Absent
}
