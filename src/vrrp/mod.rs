//! VRRPv3 (RFC 5798, IPv4): placeholder while the pieces land.

pub mod machine;
pub mod packet;
