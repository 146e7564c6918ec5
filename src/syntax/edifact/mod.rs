//! UN/EDIFACT: envelope (UNA/UNB/UNG/UNH), writer and acknowledgment (CONTRL).

pub mod ack;
pub mod envelope;
pub mod writer;
