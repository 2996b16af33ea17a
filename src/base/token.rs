//! How an event loop numbers what it watches (mio tokens), the same in
//! every thread: the waker at the very top of the range, listeners just
//! below it (listener `i` at `WAKER - 1 - i`), and from 0 up whatever the
//! loop serves. A worker's session with slab key `k` owns two tokens, `2k`
//! for its client socket and `2k + 1` for its server socket.

use mio::Token;

/// The token of a loop's waker.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Highest session key whose two tokens stay below the listeners' range
/// (with room for as many listeners as sessions).
pub(crate) const MAX_SESSION_KEY: usize = (usize::MAX >> 2) - 1;

/// The token of listener `i`.
pub(crate) fn listener(i: usize) -> Token {
    Token(usize::MAX - 1 - i)
}

/// The listener a token stands for, when it is one of the loop's `count`
/// listeners.
pub(crate) fn as_listener(token: Token, count: usize) -> Option<usize> {
    (usize::MAX - 1)
        .checked_sub(token.0)
        .filter(|i| *i < count && token != WAKER)
}

/// Which socket of a session an event is about (the low bit of its token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client = 0,
    Server = 1,
}

impl Side {
    /// The token of this side of session `key`.
    pub(crate) fn token(self, key: usize) -> Token {
        Token(key << 1 | self as usize)
    }

    /// The session key and side a session token stands for.
    pub(crate) fn from_token(token: Token) -> (usize, Side) {
        let side = if token.0 & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        (token.0 >> 1, side)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_do_not_meet() {
        assert_eq!(as_listener(WAKER, 10), None);
        assert_eq!(as_listener(listener(0), 10), Some(0));
        assert_eq!(as_listener(listener(9), 10), Some(9));
        assert_eq!(as_listener(listener(10), 10), None, "not one of ten");
        let last = Side::Server.token(MAX_SESSION_KEY);
        assert_eq!(as_listener(last, 1 << 20), None);
        assert_eq!(Side::from_token(last), (MAX_SESSION_KEY, Side::Server));
        assert_eq!(Side::from_token(Side::Client.token(7)), (7, Side::Client));
    }
}
