//! Money: integer micro-USD, never a float. The type lives with the entities, whose money
//! columns are `Micros`.

pub use entities::money::*;
