//! ASC X12: envelope (ISA/GS/ST), writer and acknowledgments (997, 999, TA1).

pub mod ack;
pub mod envelope;
pub mod writer;
