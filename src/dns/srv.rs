//! SRV records and the template slots they fill: HAProxy 2.6's
//! `resolv_check_response`. Each answer refreshes a table of records
//! (target, port); a record unseen for longer than `hold obsolete` is
//! dropped and frees its slot, which goes back to the end of the free
//! list. Every record left takes the first free slot if it has none.
//! The table says which slots change; the resolver thread applies that
//! to the servers ([`Fill`], [`Change::Clear`]).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One SRV record as an answer gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Lower case, without the final dot.
    pub target: String,
    pub port: u16,
    pub weight: u16,
}

/// What a slot takes from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fill {
    pub slot: usize,
    pub target: String,
    pub port: u16,
    /// HAProxy's weight for the record's: `(weight + 255) / 256`, so 0
    /// stays 0 and 1..=256 become 1.
    pub weight: u32,
    /// The target's address from the additional section, if it came.
    pub ip: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Fill(Fill),
    /// The slot's record is gone: no address, maintenance (resolution).
    Clear(usize),
}

struct Item {
    record: Record,
    last_seen: Instant,
    additional: Option<(IpAddr, Instant)>,
    slot: Option<usize>,
}

/// The records of one SRV label and the slots (indices of the servers
/// of the label, in backend order) they hold.
pub(crate) struct Table {
    items: Vec<Item>,
    free: VecDeque<usize>,
}

/// HAProxy's mapping of a SRV weight (0..=65535) onto a server weight
/// (0..=256).
pub(crate) fn server_weight(srv_weight: u16) -> u32 {
    // HAProxy writes it `(weight + 255) / 256`.
    u32::from(srv_weight).div_ceil(256)
}

impl Table {
    pub(crate) fn new(slots: usize) -> Table {
        Table {
            items: Vec::new(),
            free: (0..slots).collect(),
        }
    }

    /// Applies a valid answer: `records` from its answer section,
    /// `additional` the A/AAAA records (name, address) of its additional
    /// section.
    pub(crate) fn update(
        &mut self,
        records: &[Record],
        additional: &[(String, IpAddr)],
        now: Instant,
        obsolete: Duration,
    ) -> Vec<Change> {
        for r in records {
            let same = |i: &&mut Item| i.record.target == r.target && i.record.port == r.port;
            match self.items.iter_mut().find(same) {
                Some(item) => {
                    item.record.weight = r.weight;
                    item.last_seen = now;
                }
                None => self.items.push(Item {
                    record: r.clone(),
                    last_seen: now,
                    additional: None,
                    slot: None,
                }),
            }
        }
        for item in &mut self.items {
            if let Some((_, ip)) = additional
                .iter()
                .find(|(name, _)| *name == item.record.target)
            {
                item.additional = Some((*ip, now));
            }
        }
        let mut changes = Vec::new();
        let old = |seen: Instant| now.duration_since(seen) > obsolete;
        let free = &mut self.free;
        self.items.retain_mut(|item| {
            if item.additional.is_some_and(|(_, seen)| old(seen)) {
                item.additional = None;
            }
            if !old(item.last_seen) {
                return true;
            }
            if let Some(slot) = item.slot {
                changes.push(Change::Clear(slot));
                free.push_back(slot);
            }
            false
        });
        for item in &mut self.items {
            if item.slot.is_none() {
                item.slot = self.free.pop_front();
            }
            let Some(slot) = item.slot else { continue };
            changes.push(Change::Fill(Fill {
                slot,
                target: item.record.target.clone(),
                port: item.record.port,
                weight: server_weight(item.record.weight),
                ip: item.additional.map(|(ip, _)| ip),
            }));
        }
        changes
    }

    /// The resolution failed for longer than its `hold`: every record is
    /// dropped. Returns the slots to clear.
    pub(crate) fn clear(&mut self) -> Vec<usize> {
        let slots: Vec<usize> = self.items.drain(..).filter_map(|i| i.slot).collect();
        self.free.extend(&slots);
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(target: &str, port: u16, weight: u16) -> Record {
        Record {
            target: target.into(),
            port,
            weight,
        }
    }

    fn filled(changes: &[Change]) -> Vec<(usize, &str, u16)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Fill(f) => Some((f.slot, f.target.as_str(), f.port)),
                Change::Clear(_) => None,
            })
            .collect()
    }

    #[test]
    fn weights_map_as_haproxy() {
        // (SRV weight, server weight)
        for (w, expected) in [(0, 0), (1, 1), (256, 1), (257, 2), (512, 2), (65535, 256)] {
            assert_eq!(server_weight(w), expected, "{w}");
        }
    }

    #[test]
    fn records_take_free_slots_and_keep_them() {
        let mut t = Table::new(3);
        let now = Instant::now();
        let a = rec("a.test", 80, 10);
        let b = rec("b.test", 81, 10);
        let c = t.update(&[a.clone(), b.clone()], &[], now, Duration::ZERO);
        assert_eq!(filled(&c), [(0, "a.test", 80), (1, "b.test", 81)]);
        // The same records in another order keep their slots.
        let later = now + Duration::from_millis(10);
        let c = t.update(&[b.clone(), a.clone()], &[], later, Duration::ZERO);
        assert_eq!(filled(&c), [(0, "a.test", 80), (1, "b.test", 81)]);
        // The same target on another port is another record.
        let a2 = rec("a.test", 82, 10);
        let c = t.update(&[a.clone(), b, a2], &[], later, Duration::ZERO);
        assert_eq!(filled(&c)[2], (2, "a.test", 82));
    }

    #[test]
    fn a_vanished_record_frees_its_slot_after_hold_obsolete() {
        let mut t = Table::new(2);
        let now = Instant::now();
        let (a, b, c) = (rec("a", 1, 1), rec("b", 2, 1), rec("c", 3, 1));
        t.update(&[a.clone(), b.clone()], &[], now, Duration::ZERO);
        // Without hold obsolete, the next answer without it drops it.
        let t1 = now + Duration::from_millis(100);
        let changes = t.update(std::slice::from_ref(&b), &[], t1, Duration::ZERO);
        assert_eq!(changes[0], Change::Clear(0));
        assert_eq!(filled(&changes), [(1, "b", 2)]);
        // A new record takes the freed slot.
        let changes = t.update(&[b.clone(), c.clone()], &[], t1, Duration::ZERO);
        assert_eq!(filled(&changes), [(1, "b", 2), (0, "c", 3)]);

        // With hold obsolete 1s, a record missing for 500ms stays.
        let mut t = Table::new(2);
        let hold = Duration::from_secs(1);
        t.update(&[a.clone(), b.clone()], &[], now, hold);
        let changes = t.update(std::slice::from_ref(&b), &[], t1, hold);
        assert_eq!(filled(&changes), [(0, "a", 1), (1, "b", 2)]);
        let t2 = now + Duration::from_millis(1500);
        let changes = t.update(&[b], &[], t2, hold);
        assert_eq!(changes[0], Change::Clear(0));
    }

    #[test]
    fn additional_records_give_addresses_and_weights_follow() {
        let mut t = Table::new(2);
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        let changes = t.update(
            &[rec("a", 1, 512), rec("b", 2, 0)],
            &[("a".into(), ip)],
            now,
            Duration::ZERO,
        );
        let fills: Vec<&Fill> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Fill(f) => Some(f),
                Change::Clear(_) => None,
            })
            .collect();
        assert_eq!((fills[0].ip, fills[0].weight), (Some(ip), 2));
        assert_eq!((fills[1].ip, fills[1].weight), (None, 0));
        // More records than slots: the extra one waits for a free slot.
        let mut t = Table::new(1);
        let changes = t.update(&[rec("a", 1, 1), rec("b", 2, 1)], &[], now, Duration::ZERO);
        assert_eq!(filled(&changes), [(0, "a", 1)]);
        assert_eq!(t.clear(), [0]);
    }
}
