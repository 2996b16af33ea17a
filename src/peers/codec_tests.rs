//! The peers codec's tests: documented sizes, round trips, and property
//! tests (arbitrary bytes never panic; split points never change what
//! is read).

use super::codec::*;
use crate::rules::sync::{WireKind, WireValue};
use proptest::prelude::*;

#[test]
fn varints_match_the_documented_sizes() {
    let cases: &[(u64, usize)] = &[
        (0, 1),
        (239, 1),
        (240, 2),
        (2287, 2),
        (2288, 3),
        (264431, 3),
        (264432, 4),
        (33818863, 4),
        (33818864, 5),
        (4328786159, 5),
        (u64::MAX, 10),
    ];
    for &(v, len) in cases {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        assert_eq!(b.len(), len, "{v}");
        assert_eq!(Reader::new(&b).varint(), Ok(v), "{v}");
    }
}

#[test]
fn an_update_reads_back() {
    let fields = [
        Field {
            id: 2,
            kind: WireKind::Int,
            elems: 1,
        },
        Field {
            id: 5,
            kind: WireKind::Freq,
            elems: 1,
        },
        Field {
            id: 19,
            kind: WireKind::Dict,
            elems: 1,
        },
    ];
    let values = vec![
        WireValue::Int(7),
        WireValue::Freq {
            elapsed: 1234,
            curr: 5,
            prev: 300,
        },
        WireValue::Dict(Some(b"web1".to_vec())),
    ];
    let mut out = Vec::new();
    let mut tx = Dict::default();
    for _ in 0..2 {
        put_update(
            &mut out,
            9,
            false,
            Some(30000),
            &[127, 0, 0, 1],
            KeyFormat::Fixed(4),
            &values,
            &mut tx,
        );
    }
    let mut rx = Dict::default();
    let mut at = 0;
    for _ in 0..2 {
        let (msg, used) = frame(&out[at..]).unwrap().unwrap();
        at += used;
        let Message::Update { id, expire, body } = msg else {
            panic!("{msg:?}")
        };
        assert_eq!((id, expire), (Some(9), Some(30000)));
        let u = read_update(body, KeyFormat::Fixed(4), &fields, &mut rx).unwrap();
        assert_eq!(u.key, vec![127, 0, 0, 1]);
        let got: Vec<_> = u.values.into_iter().flat_map(|(_, v)| v).collect();
        // The second time the dictionary sends the id alone.
        assert_eq!(got, values);
    }
    assert_eq!(at, out.len());
}

#[test]
fn a_definition_reads_back() {
    let d = Define {
        id: 3,
        name: b"web".to_vec(),
        key_type: KEY_IPV4,
        key_len: 4,
        data: (1 << 2) | (1 << 5) | (1 << 23),
        expire: Some(30000),
        params: vec![(5, None, Some(10000)), (23, Some(3), None)],
    };
    let mut out = Vec::new();
    put_define(&mut out, &d);
    let (msg, used) = frame(&out).unwrap().unwrap();
    assert_eq!(used, out.len());
    assert_eq!(msg, Message::Define(d));
}

#[test]
fn handshake_versions() {
    assert_eq!(read_version("HAProxyS 2.1"), Ok((2, 1)));
    assert_eq!(read_version("HAProxyS 2.0"), Ok((2, 0)));
    assert_eq!(read_version("HAProxyS 2.2"), Err(STATUS_VERSION));
    assert_eq!(read_version("HAProxyS 3.0"), Err(STATUS_VERSION));
    assert_eq!(read_version("HAProxy 2.1"), Err(STATUS_PROTOCOL));
}

proptest! {
    /// Arbitrary bytes never panic: framing, definitions, updates.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut at = 0;
        while let Ok(Some((msg, used))) = frame(&bytes[at..]) {
            if let Message::Update { body, .. } = msg {
                let fields = [
                    Field { id: 5, kind: WireKind::Freq, elems: 1 },
                    Field { id: 19, kind: WireKind::Dict, elems: 1 },
                    Field { id: 23, kind: WireKind::Int, elems: 3 },
                ];
                for k in [KeyFormat::Str { max: 32 }, KeyFormat::Int, KeyFormat::Fixed(16)] {
                    let _ = read_update(body, k, &fields, &mut Dict::default());
                }
            }
            prop_assert!(used > 0);
            at += used;
        }
        let mut lines = bytes.clone();
        while let Ok(Some(l)) = take_line(&mut lines) {
            let _ = read_version(&l);
        }
    }

    /// A stream of messages reads the same whatever the split points.
    #[test]
    fn splits_never_change_the_result(
        ints in proptest::collection::vec(any::<u64>(), 1..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut out = Vec::new();
        for (i, v) in ints.iter().enumerate() {
            put_ack(&mut out, *v, i as u32);
            put_control(&mut out, CTRL_HEARTBEAT);
            put_switch(&mut out, *v);
        }
        let whole = drain(&out, &[]);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (out.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(drain(&out, &cuts), whole);
    }

    #[test]
    fn varints_round_trip(v in any::<u64>()) {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        let mut r = Reader::new(&b);
        prop_assert_eq!(r.varint(), Ok(v));
        prop_assert!(r.is_empty());
    }
}

/// Feeds `bytes` in pieces cut at `cuts`, framing as they arrive.
fn drain(bytes: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut buf = Vec::new();
    let mut seen = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain([bytes.len()].iter()) {
        buf.extend_from_slice(&bytes[last..c.max(last)]);
        last = c.max(last);
        while let Ok(Some((m, used))) = frame(&buf) {
            seen.push(format!("{m:?}"));
            buf.drain(..used);
        }
    }
    seen
}
