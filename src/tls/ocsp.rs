//! What splicer reads of an OCSP response (RFC 6960) before stapling one
//! given over the runtime API: that it is a successful response with one
//! single response, and the certificate ID that response is about (its
//! DER, which `show ssl cert` prints as HAProxy's `OCSP Response Key`, and
//! its serial number). A minimal DER walk: nothing else is read, nothing
//! is verified (clients verify what is stapled).

/// The facts of a successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// The `CertID` of its first single response, as encoded.
    pub cert_id: Vec<u8>,
    /// That `CertID`'s serial number (the INTEGER's content octets).
    pub serial: Vec<u8>,
    /// How many single responses it has (one is stapled, as HAProxy).
    pub singles: usize,
}

/// Why a response cannot be stapled, in HAProxy's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unparsable,
    NotSuccessful,
    NotSingle(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unparsable => f.write_str("Unable to parse OCSP response"),
            Refusal::NotSuccessful => f.write_str("OCSP response status not successful"),
            Refusal::NotSingle(n) => write!(
                f,
                "OCSP response ignored because contains multiple single responses ({n})"
            ),
        }
    }
}

impl Response {
    /// Why this response cannot be stapled for a certificate whose serial
    /// number is `serial` (as encoded), if it cannot.
    pub(crate) fn refusal(&self, serial: &[u8]) -> Option<String> {
        if self.singles != 1 {
            return Some(Refusal::NotSingle(self.singles).to_string());
        }
        (self.serial != serial).then(|| {
            "OCSP single response: Certificate ID does not match certificate and issuer".into()
        })
    }
}

const SEQUENCE: u8 = 0x30;
const ENUMERATED: u8 = 0x0a;
const OCTET_STRING: u8 = 0x04;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
/// `[0] EXPLICIT`, constructed.
const CONTEXT_0: u8 = 0xa0;

/// One DER element: its tag, its content, and the whole element.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// The element at the start of `input`, and what follows it.
fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // High tag numbers (0x1f) do not occur in the structures read here.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((
        Tlv {
            tag,
            content: &rest[..len],
            whole: &input[..header + len],
        },
        &rest[len..],
    ))
}

/// The element at the start of `input` if it has tag `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    tlv(input).filter(|(t, _)| t.tag == tag)
}

/// Reads a DER `OCSPResponse`.
pub(crate) fn read(der: &[u8]) -> Result<Response, Refusal> {
    let (outer, _) = expect(der, SEQUENCE).ok_or(Refusal::Unparsable)?;
    let (status, rest) = expect(outer.content, ENUMERATED).ok_or(Refusal::Unparsable)?;
    if status.content != [0] {
        return Err(Refusal::NotSuccessful);
    }
    basic(rest).ok_or(Refusal::Unparsable)
}

/// From `responseBytes` to the first single response's `CertID`; `None`
/// when the structure is not as RFC 6960 says.
fn basic(response_bytes: &[u8]) -> Option<Response> {
    let (bytes, _) = expect(response_bytes, CONTEXT_0)?;
    let (seq, _) = expect(bytes.content, SEQUENCE)?;
    let (_kind, rest) = expect(seq.content, OID)?;
    let (octets, _) = expect(rest, OCTET_STRING)?;
    let (basic, _) = expect(octets.content, SEQUENCE)?;
    let (tbs, _) = expect(basic.content, SEQUENCE)?;
    let mut rest = tbs.content;
    // version [0], optional.
    if let Some((_, after)) = expect(rest, CONTEXT_0) {
        rest = after;
    }
    // responderID ([1] or [2]), producedAt.
    let (_responder, after) = tlv(rest)?;
    let (_produced, after) = tlv(after)?;
    let (responses, _) = expect(after, SEQUENCE)?;
    let (single, mut more) = expect(responses.content, SEQUENCE)?;
    let mut singles = 1;
    while let Some((_, after)) = tlv(more) {
        singles += 1;
        more = after;
    }
    let (cert_id, _) = expect(single.content, SEQUENCE)?;
    let (_hash_alg, after) = expect(cert_id.content, SEQUENCE)?;
    let (_name_hash, after) = expect(after, OCTET_STRING)?;
    let (_key_hash, after) = expect(after, OCTET_STRING)?;
    let (serial, _) = expect(after, INTEGER)?;
    Some(Response {
        cert_id: cert_id.whole.to_vec(),
        serial: serial.content.to_vec(),
        singles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `tag`, a DER length, then `content`.
    fn el(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
            n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    /// A response about serial `serial`, with `singles` single responses.
    fn response(status: u8, serial: &[u8], singles: usize) -> (Vec<u8>, Vec<u8>) {
        let sha1 = el(SEQUENCE, &el(OID, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]));
        let cert_id = el(
            SEQUENCE,
            &[
                sha1,
                el(OCTET_STRING, &[1; 20]),
                el(OCTET_STRING, &[2; 20]),
                el(INTEGER, serial),
            ]
            .concat(),
        );
        let single = el(
            SEQUENCE,
            &[
                cert_id.clone(),
                vec![0x80, 0x00],
                el(0x18, b"20260101000000Z"),
            ]
            .concat(),
        );
        let tbs = el(
            SEQUENCE,
            &[
                el(0xa2, &el(OCTET_STRING, &[3; 20])),
                el(0x18, b"20260101000000Z"),
                el(SEQUENCE, &single.repeat(singles)),
            ]
            .concat(),
        );
        let basic = el(SEQUENCE, &[tbs, el(SEQUENCE, &[])].concat());
        let bytes = el(
            CONTEXT_0,
            &el(
                SEQUENCE,
                &[
                    el(OID, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]),
                    el(OCTET_STRING, &basic),
                ]
                .concat(),
            ),
        );
        (
            el(SEQUENCE, &[el(ENUMERATED, &[status]), bytes].concat()),
            cert_id,
        )
    }

    #[test]
    fn responses_say_their_certificate_id() {
        let (der, cert_id) = response(0, &[0x10, 0x01], 1);
        let r = read(&der).unwrap();
        assert_eq!(
            r,
            Response {
                cert_id,
                serial: vec![0x10, 0x01],
                singles: 1,
            }
        );
        assert_eq!(r.refusal(&[0x10, 0x01]), None);
        assert_eq!(
            r.refusal(&[0x10, 0x02]).as_deref(),
            Some("OCSP single response: Certificate ID does not match certificate and issuer")
        );
        assert_eq!(read(&response(1, &[1], 1).0), Err(Refusal::NotSuccessful));
        let two = read(&response(0, &[1], 2).0).unwrap();
        assert_eq!(
            two.refusal(&[1]).as_deref(),
            Some("OCSP response ignored because contains multiple single responses (2)")
        );
        assert_eq!(read(b"hello"), Err(Refusal::Unparsable));
        assert_eq!(read(&[]), Err(Refusal::Unparsable));
        let (mut cut, _) = response(0, &[1], 1);
        cut.truncate(cut.len() - 3);
        assert_eq!(read(&cut), Err(Refusal::Unparsable));
    }

    proptest! {
        /// A response comes from the runtime API: any bytes are read or
        /// refused, never a panic.
        #[test]
        fn arbitrary_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read(&bytes);
            let (good, _) = response(0, &[1], 1);
            let mut mixed = good.clone();
            for (i, b) in bytes.iter().enumerate() {
                let at = i % mixed.len();
                mixed[at] ^= b;
            }
            let _ = read(&mixed);
        }
    }
}
