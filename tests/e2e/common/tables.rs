//! `show table` as the tests read it: the entry lines without what
//! changes from run to run (the entry's address and its expiry).

/// The entry lines of a `show table NAME` answer.
pub fn entries(answer: &str) -> Vec<String> {
    answer
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(id, _)| id.starts_with("0x"))
        .map(|(_, rest)| {
            rest.split(' ')
                .filter(|w| !w.starts_with("exp="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The entry of `key` in a `show table NAME` answer.
pub fn entry(answer: &str, key: &str) -> Option<String> {
    let head = format!("key={key} ");
    entries(answer).into_iter().find(|e| e.starts_with(&head))
}
