//! Which frontend, backend or server of a config a value names: its
//! position in the config's lists, typed so that one cannot be passed for
//! another. An id means something only with the config (the runtime) it
//! came from: sessions of an older config keep their own.

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(usize);

        impl $name {
            pub const fn new(index: usize) -> Self {
                $name(index)
            }

            /// Its position in the config's list.
            pub const fn index(self) -> usize {
                self.0
            }
        }
    };
}

id!(
    /// A frontend (or the frontend side of a `listen`).
    FrontendId
);
id!(
    /// A backend (or the backend side of a `listen`).
    BackendId
);
id!(
    /// A server, within its backend.
    ServerId
);
